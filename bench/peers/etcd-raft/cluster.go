package main

import (
	"encoding/binary"
	"log"
	"math"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// cluster is an in-process raft group driven in lockstep rounds; node i has
// raft id i+1 and node 0 (id 1) is the leader.
type cluster struct {
	nodes  []*raft.RawNode
	stores []*raft.MemoryStorage
	inbox  []*pb.Message // produced last round, delivered this round
	outbox []*pb.Message // produced this round, delivered next round
	now    int64         // current round number

	nextID     uint64           // next proposal id
	inflight   map[uint64]int64 // proposal id -> round it was proposed in
	leaderTerm uint64           // term of the last entry node 1 applied
	committed  int              // proposals applied on the leader
	latencies  []int            // histogram: latencies[t] = proposals committed after t ticks
}

func newCluster(size int) *cluster {
	c := &cluster{inflight: map[uint64]int64{}}
	peers := make([]raft.Peer, size)
	for i := range peers {
		peers[i] = raft.Peer{ID: uint64(i + 1)}
	}
	for i := range size {
		st := raft.NewMemoryStorage()
		n, err := raft.NewRawNode(&raft.Config{
			ID:                        uint64(i + 1),
			ElectionTick:              10,
			HeartbeatTick:             1,
			Storage:                   st,
			MaxSizePerMsg:             1 << 20,
			MaxInflightMsgs:           256,
			MaxUncommittedEntriesSize: 0,
			PreVote:                   true,
			CheckQuorum:               true,
			Logger:                    quietLogger{&raft.DefaultLogger{Logger: log.Default()}},
		})
		if err != nil {
			log.Fatal(err)
		}
		if err := n.Bootstrap(peers); err != nil {
			log.Fatal(err)
		}
		c.nodes, c.stores = append(c.nodes, n), append(c.stores, st)
	}
	// raft refuses to campaign while the bootstrap conf changes are unapplied:
	// one round (step 4) persists and applies them on every node.
	c.round(0)
	if err := c.nodes[0].Campaign(); err != nil {
		log.Fatal(err)
	}
	return c
}

// ready reports whether node 1 leads and has applied an entry of its term.
func (c *cluster) ready() bool {
	st := c.nodes[0].BasicStatus()
	return st.RaftState == raft.StateLeader && c.leaderTerm == st.HardState.GetTerm()
}

// round runs one lockstep round with the given number of proposers.
func (c *cluster) round(proposers int) {
	c.now++
	leader := c.nodes[0]

	// 1. every idle proposer proposes on the leader.
	for len(c.inflight) < proposers {
		data := make([]byte, payloadSize)
		binary.LittleEndian.PutUint64(data, c.nextID)
		if err := leader.Propose(data); err != nil {
			log.Fatalf("propose: %v", err)
		}
		c.inflight[c.nextID] = c.now
		c.nextID++
	}

	// 2. every node ticks.
	for _, n := range c.nodes {
		n.Tick()
	}

	// 3. deliver last round's messages in the order they were produced.
	c.inbox, c.outbox = c.outbox, c.inbox[:0]
	for i, m := range c.inbox {
		if err := c.nodes[m.GetTo()-1].Step(m); err != nil {
			log.Fatalf("step %v: %v", m.GetType(), err)
		}
		c.inbox[i] = nil
	}

	// 4. each node handles its Ready.
	for i, n := range c.nodes {
		if !n.HasReady() {
			continue
		}
		rd := n.Ready()
		st := c.stores[i]
		if !raft.IsEmptySnap(rd.Snapshot) {
			must(st.ApplySnapshot(rd.Snapshot))
		}
		must(st.Append(rd.Entries))
		if !raft.IsEmptyHardState(rd.HardState) {
			must(st.SetHardState(rd.HardState))
		}
		c.outbox = append(c.outbox, rd.Messages...)
		for _, e := range rd.CommittedEntries {
			c.apply(i, e)
		}
		n.Advance(rd)
	}
}

// apply applies one committed entry on node i.
func (c *cluster) apply(i int, e *pb.Entry) {
	switch e.GetType() {
	case pb.EntryConfChange:
		var cc pb.ConfChange
		must(proto.Unmarshal(e.GetData(), &cc))
		c.nodes[i].ApplyConfChange(&cc)
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		must(proto.Unmarshal(e.GetData(), &cc))
		c.nodes[i].ApplyConfChange(&cc)
	case pb.EntryNormal:
		if i != 0 {
			return
		}
		c.leaderTerm = e.GetTerm()
		if len(e.GetData()) < 8 {
			return // the leader's empty entry at the start of its term
		}
		id := binary.LittleEndian.Uint64(e.GetData())
		proposed, ok := c.inflight[id]
		if !ok {
			return
		}
		delete(c.inflight, id)
		lat := int(c.now - proposed)
		for len(c.latencies) <= lat {
			c.latencies = append(c.latencies, 0)
		}
		c.latencies[lat]++
		c.committed++
	}
}

// percentile returns the nearest-rank p-quantile of the recorded latencies.
func (c *cluster) percentile(p float64) int {
	total := 0
	for _, k := range c.latencies {
		total += k
	}
	rank := max(1, int(math.Ceil(p*float64(total))))
	seen := 0
	for t, k := range c.latencies {
		if seen += k; seen >= rank {
			return t
		}
	}
	return 0
}

func must(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// quietLogger drops raft's debug and info chatter and keeps warnings and errors.
type quietLogger struct{ *raft.DefaultLogger }

func (quietLogger) Debug(...any)          {}
func (quietLogger) Debugf(string, ...any) {}
func (quietLogger) Info(...any)           {}
func (quietLogger) Infof(string, ...any)  {}
