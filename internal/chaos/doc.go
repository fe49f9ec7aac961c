// Package chaos holds the chaos test: the broker and both services run as
// separate processes of the real binary while concurrent uploads go to both
// services, and zeros, ones and the broker in turn are killed with SIGKILL
// and restarted at random moments. After each restart it measures how soon
// each service answers a new upload 201 again. Afterwards it checks every
// invariant of the product contract against what the services answered,
// what their databases hold and what is on their disks, and prints the
// figures.
//
// It is skipped unless asked for:
//
//	go test -count=1 -v -run TestChaos ./internal/chaos -chaos
//	go test -count=1 -v -run TestChaos ./internal/chaos -chaos -chaos.uploads=5000 -chaos.kills=30
//
// (`task chaos` runs the first; `task chaos -- -chaos.uploads=5000 -chaos.kills=30` the second.)
//
// With -chaos.replicas N it runs N processes of each role (zeros-1…N,
// ones-1…N) on the role's one database and data directory, uploads
// round-robin over all of them, kills one replica at a time, and also
// prints how many messages each replica handled:
//
//	go test -count=1 -v -run '^TestChaos$' ./internal/chaos -chaos -chaos.replicas 2 -chaos.uploads 150 -chaos.kills 4
package chaos
