package postgres

import "time"

// FilesPageSQL exposes the page query to the tests, which check its plan.
var FilesPageSQL = filesPageSQL

// Transactions reports how many transactions the store's Updates began.
func Transactions(s *Store) int64 { return s.commits.transactions.Load() }

// SetListenIdle sets how long a listening connection may be silent before
// it is checked, until the returned restore.
func SetListenIdle(d time.Duration) (restore func()) {
	old := listenIdle.Swap(int64(d))
	return func() { listenIdle.Store(old) }
}
