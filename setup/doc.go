// Package setup builds the dependencies of an idbatch command from its
// configuration, in one place for every command (as restic's wrapBackend
// composes a repository's backend): the Store (SQLite or PostgreSQL, by the
// DSN's scheme), the S3 client, the export destination, the API limiter
// with the account-wide budget on a shared Store, and the iDenfy API
// clients, each built with the same fields from the same config.
//
// Open builds what a command asks for, in the order the commands always
// opened them (Store, S3, destination), so that the first error a user sees
// does not depend on the command; the rest is built on first use. Close
// releases it all. A command still decides what happens on the Store (locks,
// runs, workers): setup only opens it, and checks before a run that the
// Store and the destination belong together (Deps.CheckKnownJob); it runs
// the pre-flight checks of `validate -check` on what a run would use
// (Deps.Preflight, which creates nothing). Logger and ExportLockTTL read
// the log: and limits.lease keys the same way for every command.
package setup
