package postgres

// FilesPageSQL exposes the page query to the tests, which check its plan.
var FilesPageSQL = filesPageSQL

// Transactions reports how many transactions the store's Updates began.
func Transactions(s *Store) int64 { return s.commits.transactions.Load() }
