// Package baum assembles BAUM's services from their parts: configuration from
// the environment (Config), one service with its HTTP API, Watermill router
// and adapters (Service), and a whole system in one process with an
// in-process Kafka-protocol broker (System). The command in cmd/baum runs
// them; the integration tests start them.
package baum
