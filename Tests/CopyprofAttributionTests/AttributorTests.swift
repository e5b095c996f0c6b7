import CopyprofModel
import Foundation
import Testing

@testable import CopyprofAttribution

/// The call-graph walk on the chains issue 20 describes (as `perf record -g` shows them on this VM, leaf first).
@Suite struct AttributorTests {
    let attributor = Attributor()

    private func category(_ kernel: [String], _ user: [String] = []) -> AttributionCategory {
        attributor.attribute(kernelFrames: kernel, userFrames: user).category
    }

    @Test func helpersAreChargedToTheirCallers() {
        #expect(category(["__pi_memcpy", "skb_copy_ubufs", "__netif_receive_skb_core.constprop.0"]) == .deferredCopy)
        #expect(category(["rep_movs_alternative", "_copy_from_iter", "tcp_sendmsg_locked"]) == .copyFromUser)
        #expect(category(["rep_movs_alternative", "_copy_to_iter", "simple_copy_to_iter"]) == .copyToUser)
        #expect(category(["__check_object_size", "simple_copy_to_iter", "__skb_datagram_iter"]) == .copyToUser)
        // A structure copied from user memory is not the message: the zero-copy sender's iovec array is the
        // system call's work.
        #expect(category(["rep_movs_alternative", "_copy_from_user", "__import_iovec", "____sys_sendmsg"]) == .syscall)
        #expect(category(["_copy_from_user", "copy_msghdr_from_user", "___sys_sendmsg"]) == .syscall)
        // Alone, a copy helper does not say which copy it served.
        let alone = attributor.attribute(kernelFrames: ["rep_movs_alternative"], userFrames: [])
        #expect(alone.category == .other && alone.rule == .transparentOnly && alone.decidingFrame == "rep_movs_alternative")
    }

    @Test func interruptEnableSitesGoToWhatHeldInterruptsOff() {
        #expect(category(["_raw_spin_unlock_irqrestore", "tcp_write_xmit", "__tcp_push_pending_frames"]) == .tcpIP)
        #expect(category(["_raw_spin_unlock_irqrestore", "__wake_up_sync_key", "sock_def_readable"]) == .scheduler)
        #expect(category(["_raw_spin_unlock_irqrestore", "try_to_wake_up", "default_wake_function"]) == .scheduler)
        #expect(category(["_raw_spin_unlock_irqrestore", "sock_def_readable", "tcp_data_queue"]) == .scheduler)
        #expect(category(["handle_softirqs", "do_softirq", "__local_bh_enable_ip", "ip_finish_output2"]) == .tcpIP)
        #expect(category(["finish_task_switch.isra.0", "__schedule", "schedule", "sk_wait_data"]) == .scheduler)
        let alone = attributor.attribute(kernelFrames: ["_raw_spin_unlock_irqrestore"], userFrames: [])
        #expect(alone.category == .irqEnableSite && alone.rule == .transparentOnly)
        // Only interrupt-enable sites and unknown functions: the first site decides.
        let sites = attributor.attribute(
            kernelFrames: ["handle_softirqs", "some_driver_function", "__local_bh_enable_ip"], userFrames: [])
        #expect(sites.category == .irqEnableSite && sites.decidingFrame == "handle_softirqs")
    }

    @Test func wholeChainsOfTheSweep() {
        let sendSyscall = [
            "tcp_sendmsg", "inet_sendmsg", "__sys_sendto", "__x64_sys_sendto", "do_syscall_64",
            "entry_SYSCALL_64_after_hwframe",
        ]
        let twoCopyUser = ["__libc_send", "Transports.TwoCopySender.sendMessage(sequence:)", "start_thread"]
        #expect(category(["rep_movs_alternative", "_copy_from_iter", "tcp_sendmsg_locked"] + sendSyscall, twoCopyUser)
            == .copyFromUser)
        // The loopback receive path run in the sender's softirq, ending in the receiver's wake-up.
        #expect(category(
            ["_raw_spin_unlock_irqrestore", "__wake_up_sync_key", "sock_def_readable", "tcp_data_queue",
             "tcp_rcv_established", "tcp_v4_do_rcv", "tcp_v4_rcv", "ip_protocol_deliver_rcu", "__netif_receive_skb_one_core",
             "process_backlog", "__napi_poll", "net_rx_action", "handle_softirqs", "do_softirq", "__local_bh_enable_ip",
             "__dev_queue_xmit", "ip_finish_output2", "__ip_queue_xmit", "__tcp_transmit_skb", "tcp_write_xmit",
             "__tcp_push_pending_frames", "tcp_sendmsg_locked"] + sendSyscall, twoCopyUser) == .scheduler)
        // Zero-copy: pinning on send, and on loopback the sender's own softirq copying the pages after all.
        #expect(category(["gup_fast_fallback", "iov_iter_get_pages2", "zerocopy_fill_skb_from_iter",
                          "skb_zerocopy_iter_stream", "tcp_sendmsg_locked"] + sendSyscall) == .zerocopyPinning)
        #expect(category(["memcpy_orig", "skb_copy_ubufs", "__netif_receive_skb_core.constprop.0",
                          "__netif_receive_skb_one_core", "process_backlog"]) == .deferredCopy)
        #expect(category(["__msg_zerocopy_callback", "skb_release_data", "consume_skb", "tcp_ack"]) == .zerocopyCompletion)
        #expect(category(["sock_recv_errqueue", "ip_recv_error", "inet_recv_error", "tcp_recvmsg"]) == .zerocopyCompletion)
        // Marshal's user-space copy, and the loop itself.
        #expect(category([], ["__memmove_avx512_unaligned_erms", "Transports.MarshalSender.sendMessage(sequence:)"])
            == .userMemcpy)
        #expect(category([], ["closure #1 in Transports.MessageLayout.firstMismatch(inPiece:count:)"]) == .userLoop)
        #expect(category([], ["specialized Transports.streamSend<A>(_:duration:)", "start_thread"]) == .userLoop)
        // The kernel's memcpy is a helper; glibc's is user-memcpy.
        #expect(category(["memcpy"]) == .other && category([], ["memcpy"]) == .userMemcpy)
        #expect(category([], ["memcpy@GLIBC_2.2.5"]) == .userMemcpy)
    }

    @Test func unknownAndUnresolvedFramesAreOtherWithTheirLeaf() {
        let unknown = attributor.attribute(kernelFrames: ["some_driver_function", "[kernel, unresolved]"], userFrames: [])
        #expect(unknown == Attribution(category: .other, rule: .unknown, decidingFrame: nil, leaf: "some_driver_function"))
        // Unresolved kernel frames are skipped; the user frame under them decides.
        let hidden = attributor.attribute(
            kernelFrames: ["[kernel, unresolved]", "[kernel, unresolved]"], userFrames: ["libc.so.6+0x1529f5", "__libc_send"])
        #expect(hidden.category == .syscall && hidden.leaf == "[kernel, unresolved]")
        let none = attributor.attribute(kernelFrames: [], userFrames: [])
        #expect(none == Attribution(category: .other, rule: .noFrames, decidingFrame: nil, leaf: nil))
        // Another module whose name starts like the transports' is not copyprof's loop.
        #expect(category([], ["TransportsTests.SomeTest.run()"]) == .other)
        #expect(category([], ["MyTransports.Loop.run()"]) == .other)
    }

    /// Reading a MSG_ZEROCOPY notification (`recvmsg(MSG_ERRQUEUE)`) copies it to user memory and frees its skb:
    /// work of owners of `copy-to-user` and `memory`, done for the completion. The chains are this VM's 6.18 kernel's,
    /// from `perf record -e cpu-clock -g` of a zero-copy sweep (`tcp_recvmsg` → `inet_recv_error`, whose tail call
    /// to `ip_recv_error` often leaves it out of the chain).
    @Test func theErrorQueueReadIsTheCompletionsWorkWhateverItCalls() {
        let read = ["ip_recv_error", "tcp_recvmsg", "inet_recvmsg", "sock_recvmsg", "____sys_recvmsg", "___sys_recvmsg",
                    "__sys_recvmsg", "do_syscall_64", "entry_SYSCALL_64_after_hwframe"]
        let user = ["__libc_recvmsg", "Transports.ZeroCopySender.waitForFreeSet(sequence:)"]
        let chains: [[String]] = [
            ["__skb_datagram_iter", "skb_copy_datagram_iter"],  // skb_copy_datagram_msg of the notification
            ["skb_copy_datagram_iter"],
            ["perf_trace_buf_alloc", "perf_trace_skb_copy_datagram_iovec", "skb_copy_datagram_iter"],
            ["kfree", "skb_release_data", "consume_skb"],  // freeing the notification's skb
            ["__slab_free", "kfree", "skb_release_data", "consume_skb"],
            ["kmem_cache_free"],
            ["kfree_skbmem"],
            ["sock_ofree", "skb_release_head_state", "consume_skb"],
            ["_raw_spin_unlock_irqrestore", "kfree", "skb_release_data", "consume_skb"],
            ["__check_object_size", "put_cmsg"],  // the sock_extended_err as a control message
            ["put_cmsg"],
            ["_raw_spin_unlock_irqrestore", "sock_dequeue_err_skb"],
            [],
        ]
        for chain in chains {
            let found = attributor.attribute(kernelFrames: chain + read, userFrames: user)
            #expect(found.category == .zerocopyCompletion, "\(chain)")
        }
        // The same through inet_recv_error, and IPv6's read.
        #expect(category(["__skb_datagram_iter", "skb_copy_datagram_iter", "ip_recv_error", "inet_recv_error", "tcp_recvmsg"])
            == .zerocopyCompletion)
        #expect(category(["kfree", "skb_release_data", "consume_skb", "ipv6_recv_error", "inet_recv_error", "tcp_recvmsg"])
            == .zerocopyCompletion)
        #expect(category(["skb_copy_datagram_iter", "sock_recv_errqueue"]) == .zerocopyCompletion)
        let overruled = attributor.attribute(kernelFrames: ["__skb_datagram_iter", "skb_copy_datagram_iter"] + read, userFrames: user)
        #expect(overruled == Attribution(category: .zerocopyCompletion, rule: .enclosing, decidingFrame: "ip_recv_error",
                                         leaf: "__skb_datagram_iter"))
        // An interrupt on top of the read is its own work: the loopback softirq's deferred copy stays deferred-copy,
        // its receive path tcp-ip.
        let softirq = ["handle_softirqs", "__irq_exit_rcu", "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt"]
        #expect(category(["__pi_memcpy", "skb_copy_ubufs", "ip_local_deliver_finish", "__netif_receive_skb_one_core",
                          "process_backlog", "__napi_poll", "net_rx_action"] + softirq
                         + ["__skb_datagram_iter", "skb_copy_datagram_iter"] + read) == .deferredCopy)
        #expect(category(["tcp_queue_rcv", "tcp_data_queue", "tcp_rcv_established", "tcp_v4_do_rcv", "tcp_v4_rcv",
                          "ip_protocol_deliver_rcu", "ip_local_deliver_finish", "__netif_receive_skb_one_core",
                          "process_backlog", "__napi_poll", "net_rx_action"] + softirq + ["kmem_cache_free"] + read)
            == .tcpIP)
        // The ordinary receive copies what it reads, however the call was made.
        #expect(category(["_copy_to_iter", "__skb_datagram_iter", "skb_copy_datagram_iter", "tcp_recvmsg_locked",
                          "tcp_recvmsg", "inet_recvmsg", "sock_recvmsg"]) == .copyToUser)
    }

    @Test func theFirstOwnerFromTheLeafWins() {
        // tcp_sendmsg_locked (tcp-ip) is an owner too, but the copy under it is nearer the leaf.
        let found = attributor.attribute(kernelFrames: ["_copy_from_iter", "tcp_sendmsg_locked"], userFrames: [])
        #expect(found == Attribution(category: .copyFromUser, rule: .owner, decidingFrame: "_copy_from_iter",
                                     leaf: "_copy_from_iter"))
        // Kernel frames come before user frames.
        #expect(category(["tcp_sendmsg_locked"], ["__memmove_avx_unaligned_erms"]) == .tcpIP)
    }
}

@Suite struct AttributionTallyTests {
    @Test func samplesAndWeightsAddUpPerKeyAndCategory() throws {
        let attributor = Attributor()
        var tally = AttributionTally<String>()
        let sender = "two-copy 65536 sender"
        let receiver = "two-copy 65536 receiver"
        for _ in 0..<3 {
            tally.add(kernelFrames: ["rep_movs_alternative", "_copy_from_iter"], userFrames: [], period: 1_000_000,
                      key: sender, attributor: attributor)
        }
        tally.add(kernelFrames: ["_raw_spin_unlock_irqrestore", "tcp_write_xmit"], userFrames: [], period: 2_000_000,
                  key: sender, attributor: attributor)
        tally.add(kernelFrames: ["mystery_b"], userFrames: [], period: 5, key: sender, attributor: attributor)
        tally.add(kernelFrames: ["mystery_a"], userFrames: [], period: 5, key: sender, attributor: attributor)
        tally.add(kernelFrames: ["mystery_a", "mystery_root"], userFrames: [], period: 5, key: sender, attributor: attributor)
        tally.add(kernelFrames: ["_copy_to_iter"], userFrames: [], period: 7, key: receiver, attributor: attributor)
        // A folded stack's samples at once.
        tally.add(attributor.attribute(kernelFrames: ["mystery_c"], userFrames: []), samples: 4, weight: 40, key: receiver)
        tally.add(attributor.attribute(kernelFrames: ["mystery_c"], userFrames: []), samples: 0, weight: 0, key: "none")

        let totals = try #require(tally.totals[sender])
        #expect(totals.samples == [.copyFromUser: 3, .tcpIP: 1, .other: 3])
        #expect(totals.weight == [.copyFromUser: 3_000_000, .tcpIP: 2_000_000, .other: 15])
        #expect(totals.sampleCount == 7 && totals.totalWeight == 5_000_015)
        #expect(totals.topOtherFunctions(5) == [
            OtherFunction(name: "mystery_a", samples: 2, weight: 10), OtherFunction(name: "mystery_b", samples: 1, weight: 5),
        ])
        #expect(totals.topOtherFunctions(1).map(\.name) == ["mystery_a"])
        let received = try #require(tally.totals[receiver])
        #expect(received.samples == [.copyToUser: 1, .other: 4] && received.weight == [.copyToUser: 7, .other: 40])
        #expect(received.topOtherFunctions(3) == [OtherFunction(name: "mystery_c", samples: 4, weight: 40)])
        #expect(tally.totals.count == 2)
    }
}

@Suite struct FoldedStacksTests {
    @Test func writtenStacksParseBackToTheSameCounts() throws {
        var stacks = FoldedStacks()
        stacks.add(leafFirst: ["_copy_from_iter", "tcp_sendmsg_locked", "__libc_send", "copyprof-sender"], count: 41)
        stacks.add(rootFirst: ["copyprof-sender", "__libc_send", "tcp_sendmsg_locked", "_copy_from_iter"])
        stacks.add(rootFirst: ["copyprof-receiver", "closure #1 in Transports.X.f(_:)", "a;b", "line\nbreak  "], count: 3)
        stacks.add(rootFirst: ["copyprof-receiver", ""], count: 2)
        stacks.add(rootFirst: [], count: 9)  // not a stack
        #expect(stacks.counts.count == 3 && stacks.total == 47)
        let text = stacks.text
        #expect(text == """
            copyprof-receiver;[unknown] 2
            copyprof-receiver;closure #1 in Transports.X.f(_:);a:b;line break 3
            copyprof-sender;__libc_send;tcp_sendmsg_locked;_copy_from_iter 42

            """)
        let parsed = try FoldedStacks.parse(text)
        #expect(parsed == stacks)
        #expect(try FoldedStacks.parse(text.replacingOccurrences(of: "\n", with: "\r\n")) == stacks)
        #expect(try FoldedStacks.parse("a;b 1\n\na;b 2\n") .counts == [["a", "b"]: 3])
    }

    @Test func malformedLinesAreRejectedWithTheirNumber() {
        let cases: [(String, String)] = [
            ("a;b 1\na;b\n", "folded stacks, line 2: no count: a line is `frame;frame;frame COUNT`"),
            ("a;b x\n", "folded stacks, line 1: the count `x` is not a whole number of samples"),
            ("a;b 1.5\n", "folded stacks, line 1: the count `1.5` is not a whole number of samples"),
            ("a;b -1\n", "folded stacks, line 1: the count `-1` is not a whole number of samples"),
            ("a;b 1\nx;;y 2\n", "folded stacks, line 2: frame 2 is empty (`;;` or a `;` at an end)"),
            ("a; 2\n", "folded stacks, line 1: frame 2 is empty (`;;` or a `;` at an end)"),
            (" 2\n", "folded stacks, line 1: no frames before the count"),
            ("a;b  2\n", "folded stacks, line 1: frame 2 starts or ends with a space or holds a tab"),
            ("a\tb 2\n", "folded stacks, line 1: frame 1 starts or ends with a space or holds a tab"),
        ]
        for (text, message) in cases {
            #expect { try FoldedStacks.parse(text) } throws: { "\($0)" == message }
        }
    }
}
