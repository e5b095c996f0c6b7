#!/usr/bin/env python3
"""Writes a synthetic copyprof profile of any number of cells and rounds, for Benchmarks/report-speed.sh.

Every trial is a copy of a real one: the saved sweep Tests/TestSupport/Fixtures/schema2-sweep.json (the classic four
transports, stream and ping-pong, 6 rounds of a timing and a counted trial) gives, for each transport and workload,
its 1-connection cell's trials of each kind. A generated cell of size S takes them in turn, round by round, with its
byte counts made whole messages of S (as a profile's reader requires) and its elapsed time nudged by a few ns per
round, so that no two trials of a cell tie. The environment and control are the fixture's; the control gets one run
per round.

    synthetic-profile.py --sizes K --threads 1,2,4 [--modes stream] --rounds R --output PATH

makes 4 transports x the workloads (stream and ping-pong unless told) x K sizes (64, 128, ... B) x the thread
counts cells, each with R timing and R counted trials (R up to 50,000: a cell holds at most 100,000).
"""
import argparse
import copy
import json
import os
import sys

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TestSupport", "Fixtures",
                       "schema2-sweep.json")


def scaled(record, size):
    """The record with its bytes made whole messages of `size`."""
    if record is not None and "messages" in record and "bytes" in record:
        record["bytes"] = record["messages"] * size
    return record


def trial_for(template, size, number, round_, nudge):
    t = copy.deepcopy(template)
    t["trial"] = number
    t["round"] = round_
    t["elapsedNs"] = t["elapsedNs"] + nudge
    scaled(t, size)
    for worker in t["workers"]:
        scaled(worker.get("sent"), size)
        scaled(worker.get("received"), size)
    return t


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, required=True, help="how many message sizes: 64, 128, ... B")
    parser.add_argument("--threads", default="1", help="connection counts, comma-separated")
    parser.add_argument("--modes", default="stream,pingpong", help="workloads, comma-separated")
    parser.add_argument("--rounds", type=int, required=True, help="a timing and a counted trial per cell and round")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    threads = [int(x) for x in args.threads.split(",")]

    fixture = json.load(open(FIXTURE))
    templates = {}  # (transport, mode) -> {kind: [trials]}
    for cell in fixture["cells"]:
        key = cell["key"]
        if key["threads"] != 1 or key["messageSize"] != 4096:
            continue
        by_kind = templates.setdefault((key["transport"], key["mode"]), {"timing": [], "counted": []})
        for trial in cell["trials"]:
            by_kind[trial["kind"]].append(trial)
    transports = fixture["plan"]["transports"]
    modes = args.modes.split(",")
    sizes = [64 * (i + 1) for i in range(args.sizes)]

    plan = dict(fixture["plan"], sizes=sizes, threads=threads, trials=args.rounds, warmup=0, label="synthetic")
    environment = dict(fixture["environment"], label="synthetic",
                       commandLine=["Benchmarks/synthetic-profile.py"] + sys.argv[1:])
    samples = fixture["control"]["samples"]
    control = dict(fixture["control"], samples=[
        dict(samples[r % len(samples)], round=r + 1) for r in range(args.rounds)])

    with open(args.output, "w") as out:
        head = {"schemaVersion": 2, "tool": "copyprof", "status": "complete", "environment": environment, "plan": plan,
                "control": control}
        out.write(json.dumps(head, separators=(",", ":"))[:-1] + ',"cells":[')
        first = True
        count = 0
        for mode in modes:
            for size in sizes:
                for n in threads:
                    for transport in transports:
                        kinds = templates[(transport, mode)]
                        trials = []
                        for r in range(args.rounds):
                            for kind in ("timing", "counted"):
                                source = kinds[kind][r % len(kinds[kind])]
                                trials.append(trial_for(source, size, len(trials) + 1, r + 1, (r * 37 + count) % 1000))
                        key = {"messageSize": size, "mode": mode, "receiver": "copy", "threads": n, "transport": transport}
                        out.write(("" if first else ",") + json.dumps({"key": key, "trials": trials}, separators=(",", ":")))
                        first = False
                        count += 1
        out.write("]}\n")
    print(f"{args.output}: {count} cells, {count * 2 * args.rounds} trials, {os.path.getsize(args.output)} bytes")


if __name__ == "__main__":
    main()
