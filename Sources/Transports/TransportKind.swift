// transports
