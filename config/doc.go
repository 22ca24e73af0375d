// Package config is idbatch's configuration: the YAML file of
// configs/example.yaml read over the defaults, ${VAR} expanded from the
// environment, and validated once with errors that name the key's YAML path
// (limits.max_failure_ration: unknown key; did you mean
// limits.max_failure_ratio?) and the expected form.
//
// It also owns the forms that the command line and the file share: the
// Store DSN (ParseStoreDSN, ResolveStoreDSN) with the one function through
// which a DSN is shown (RedactDSN), job names (CheckJobName) and the worker
// identity (WorkerIndex). It reads the file and the environment; the
// packages it configures receive plain option structs and never do.
package config
