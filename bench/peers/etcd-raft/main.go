// Command etcd-raft-bench measures etcd's raft package (go.etcd.io/raft/v3)
// with the same lockstep workload that our TypeScript harness runs against
// our own Raft core, so the two can be compared in one run on one machine.
//
// Workload (keep in sync with the TypeScript harness):
//
//   - Cluster: 3 nodes (ids 1,2,3), each a raft.RawNode over its own
//     raft.MemoryStorage. Config: ElectionTick 10, HeartbeatTick 1,
//     MaxSizePerMsg 1 MiB, MaxInflightMsgs 256, PreVote, CheckQuorum,
//     MaxUncommittedEntriesSize 0 (unlimited), synchronous storage writes.
//     All three are bootstrapped with voters {1,2,3}. The storage is never
//     compacted. A fresh cluster is built for every proposer count N.
//   - Setup: one round (below, with no proposers) runs so that every node
//     persists and applies the bootstrap conf changes (raft refuses to
//     campaign before that); then node 1 calls Campaign() and rounds run
//     until node 1 is leader and has applied an entry of its own term.
//     Round numbers keep counting from setup into warm-up and measurement.
//   - One round is one tick, numbered 1, 2, ... :
//     1. every idle proposer proposes on node 1 (the leader) a 128-byte
//     payload whose first 8 bytes are a unique proposal id (uint64,
//     little-endian; the rest is zero); the round number is recorded;
//     2. every node Tick()s once, in id order;
//     3. the messages produced in the previous round are delivered (Step) to
//     their recipients, in the order they were produced;
//     4. each node, in id order, if HasReady(): takes one Ready, applies its
//     Snapshot, appends its Entries and sets its HardState on its
//     MemoryStorage, queues its Messages for delivery in the NEXT round,
//     applies its CommittedEntries (conf changes via ApplyConfChange; the
//     leader looks up each entry's proposal id, records latency = current
//     round - proposal round, in ticks, and marks that proposer idle),
//     then Advance()s.
//   - N proposers, each with at most one outstanding proposal.
//   - Warm-up: run until 1,000 proposals have committed (been applied on the
//     leader). Then the counters are reset and the measurement runs until at
//     least M proposals have committed and at least -min-seconds of wall time
//     have passed, or -max-seconds of wall time have passed, whichever comes
//     first (M = 20,000 for N=1, 100,000 otherwise). Entries proposed during
//     warm-up but committed in the measurement are counted in it.
//   - Reported: committed proposals per second of wall time, and the p50 and
//     p99 commit latency in ticks (nearest-rank percentiles).
//
// Output: one JSON object per line per N on stdout.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/raft/v3"
)

const (
	raftModule  = "go.etcd.io/raft/v3"
	payloadSize = 128
	warmup      = 1000
)

type result struct {
	Impl          string  `json:"impl"`
	Version       string  `json:"version"`
	Proposers     int     `json:"proposers"`
	Entries       int     `json:"entries"`
	Seconds       float64 `json:"seconds"`
	EntriesPerSec float64 `json:"entriesPerSec"`
	P50Ticks      int     `json:"p50Ticks"`
	P99Ticks      int     `json:"p99Ticks"`
}

func main() {
	log.SetFlags(0)
	proposersFlag := flag.String("proposers", "1,16,256", "comma-separated proposer counts to run")
	minSeconds := flag.Float64("min-seconds", 2, "minimum wall time of a measurement")
	maxSeconds := flag.Float64("max-seconds", 10, "maximum wall time of a measurement")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: %s [flags]\n\n"+
			"Benchmarks a 3-node etcd raft cluster in lockstep rounds (see main.go)\n"+
			"and prints one JSON line per proposer count.\n\n", os.Args[0])
		flag.PrintDefaults()
	}
	flag.Parse()

	var counts []int
	for _, s := range strings.Split(*proposersFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			log.Fatalf("bad -proposers value %q", s)
		}
		counts = append(counts, n)
	}
	minDur := time.Duration(*minSeconds * float64(time.Second))
	maxDur := time.Duration(*maxSeconds * float64(time.Second))

	enc := json.NewEncoder(os.Stdout)
	for _, n := range counts {
		minEntries := 100_000
		if n == 1 {
			minEntries = 20_000
		}
		if err := enc.Encode(run(n, minEntries, minDur, maxDur)); err != nil {
			log.Fatal(err)
		}
	}
}

// run builds a fresh cluster, warms it up and measures it with n proposers.
func run(n, minEntries int, minDur, maxDur time.Duration) result {
	c := newCluster(3)
	for !c.ready() {
		c.round(0)
		if c.now > 1000 {
			log.Fatal("node 1 did not become leader")
		}
	}
	for c.committed < warmup {
		c.round(n)
	}

	c.committed, c.latencies = 0, nil
	start := time.Now()
	var elapsed time.Duration
	for {
		c.round(n)
		elapsed = time.Since(start)
		if (c.committed >= minEntries && elapsed >= minDur) || elapsed >= maxDur {
			break
		}
	}
	if st := c.nodes[0].BasicStatus(); st.RaftState != raft.StateLeader {
		log.Fatalf("node 1 lost leadership (state %v)", st.RaftState)
	}

	secs := elapsed.Seconds()
	return result{
		Impl:          "etcd-raft",
		Version:       moduleVersion(),
		Proposers:     n,
		Entries:       c.committed,
		Seconds:       secs,
		EntriesPerSec: float64(c.committed) / secs,
		P50Ticks:      c.percentile(0.50),
		P99Ticks:      c.percentile(0.99),
	}
}

func moduleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == raftModule {
				return d.Version
			}
		}
	}
	return "unknown"
}
