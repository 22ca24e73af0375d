// Package submit is the stage that spends money: it creates a token and
// uploads a record's images to iDenfy's /api/v2/process under one shared,
// adaptive rate limiter, following the crash protocol of the design so that a
// record is never submitted twice.
//
// The crash protocol, step by step (every step is a compare-and-set in the Store):
//
//  1. pending → tokening (intent recorded) before /api/v2/token is sent.
//  2. tokening → tokened with scanRef and authToken before /api/v2/process is sent.
//  3. tokened → submitted once /api/v2/process answered 200.
//
// A record found in tokening after a crash may have a token at iDenfy: it is
// reported as a possible orphan and never silently given a second token. A
// record found in tokened is reconciled with /api/v2/status: ACTIVE means the
// upload never landed and the same token is used again; anything else means it
// landed. A /process answered TOKEN_NOT_VALID, or not answered at all, is
// reconciled the same way.
package submit
