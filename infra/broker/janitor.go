package broker

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// janitor removes consumer group members that died while the coordinator
// held their JoinGroup.
//
// kfake arms a member's session timer when it delivers the member's
// JoinGroup answer; if the member's connection is gone by then, the answer
// is not delivered and the timer is never armed. When the group's leader
// then syncs, the dead member keeps its share of the partitions for as long
// as the broker runs, and nobody consumes them (a service killed while it
// starts does exactly this; the chaos test found it). Kafka itself expires
// such a member after its session timeout.
//
// The janitor watches every request that proves a member alive and asks
// the broker to remove (LeaveGroup) a member that has been silent for longer
// than a live one ever is: its session timeout (heartbeats) plus its
// rebalance timeout (the longest a join may be held), plus a margin.
type janitor struct {
	log    *slog.Logger
	margin time.Duration

	mu      sync.Mutex
	members map[memberKey]*memberSeen
}

type memberKey struct{ group, member string }

type memberSeen struct {
	last               time.Time
	session, rebalance time.Duration
}

func newJanitor(log *slog.Logger, margin time.Duration) *janitor {
	return &janitor{log: log, margin: margin, members: map[memberKey]*memberSeen{}}
}

// watch registers the janitor's observers on the cluster. They only look at
// requests; the cluster handles every request as usual.
func (j *janitor) watch(c *kfake.Cluster) {
	for _, key := range []kmsg.Key{kmsg.JoinGroup, kmsg.SyncGroup, kmsg.Heartbeat, kmsg.OffsetCommit, kmsg.LeaveGroup} {
		c.ControlKey(int16(key), j.observe)
	}
}

func (j *janitor) observe(req kmsg.Request) (kmsg.Response, error, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	now := time.Now()
	seen := func(group, member string) *memberSeen {
		if member == "" {
			return nil
		}
		k := memberKey{group, member}
		m := j.members[k]
		if m == nil {
			m = &memberSeen{session: 45 * time.Second, rebalance: 5 * time.Minute}
			j.members[k] = m
		}
		m.last = now
		return m
	}
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		if m := seen(r.Group, r.MemberID); m != nil {
			m.session = time.Duration(r.SessionTimeoutMillis) * time.Millisecond
			m.rebalance = time.Duration(r.RebalanceTimeoutMillis) * time.Millisecond
			if r.RebalanceTimeoutMillis <= 0 { // JoinGroup v0: the session timeout serves both
				m.rebalance = m.session
			}
		}
	case *kmsg.SyncGroupRequest:
		seen(r.Group, r.MemberID)
	case *kmsg.HeartbeatRequest:
		seen(r.Group, r.MemberID)
	case *kmsg.OffsetCommitRequest:
		seen(r.Group, r.MemberID)
	case *kmsg.LeaveGroupRequest:
		delete(j.members, memberKey{r.Group, r.MemberID})
		for _, m := range r.Members {
			delete(j.members, memberKey{r.Group, m.MemberID})
		}
	}
	return nil, nil, false
}

// silent returns, and forgets, the members silent for longer than a live
// member can be.
func (j *janitor) silent(now time.Time) []memberKey {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []memberKey
	for k, m := range j.members {
		if now.Sub(m.last) > m.session+m.rebalance+j.margin {
			out = append(out, k)
			delete(j.members, k)
		}
	}
	return out
}

// run sweeps every interval until ctx ends, removing silent members through
// a client of the broker itself.
func (j *janitor) run(ctx context.Context, addr string, interval time.Duration, opts ...kgo.Opt) {
	var client *kgo.Client
	defer func() {
		if client != nil {
			client.Close()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, k := range j.silent(time.Now()) {
			if client == nil {
				var err error
				if client, err = kgo.NewClient(append(opts, kgo.SeedBrokers(addr))...); err != nil {
					j.log.Warn("group janitor: cannot connect to the broker", "error", err)
					continue
				}
			}
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Group = k.group
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = k.member
			reason := "silent for longer than its session and rebalance timeouts (died while joining?)"
			m.Reason = &reason
			req.Members = append(req.Members, m)
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			resp, err := req.RequestWith(rctx, client)
			cancel()
			switch {
			case err != nil:
				j.log.Warn("group janitor: cannot remove a dead member", "group", k.group, "member", k.member, "error", err)
			case len(resp.Members) == 1 && resp.Members[0].ErrorCode == 0:
				j.log.Warn("group janitor: removed a member that died while joining", "group", k.group, "member", k.member)
			}
		}
	}
}
