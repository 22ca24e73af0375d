// Package deploy holds no code: it is the module of the tests that check the
// deploy artifacts against idbatch (README "Scale out"):
//
//   - the Dockerfile at the repository root: its structure (a static build,
//     a final stage with nothing but the binary and a non-root USER), and its
//     build command, run on the host, gives a static binary whose `version`
//     prints what the build stamped;
//   - kubernetes/*.yaml: every document decodes strictly into the Kubernetes
//     API types, and what must agree with idbatch does: the config keys
//     (against configs/example.yaml, then the binary itself parses each
//     config), the env vars the config references, ports, probe paths,
//     Indexed Job and CronJob settings, non-root pods;
//   - aws-batch/: the job definition and submission decode strictly into the
//     fields used, and the config baked into the Batch image agrees likewise.
//
// A module of its own, so that the main module does not depend on k8s.io/api.
// .ci/run runs it: (cd deploy && go test -count=1 ./...).
package deploy
