package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

// manifest is one decoded Kubernetes document.
type manifest struct {
	file string
	obj  any // *corev1.ConfigMap, *batchv1.Job, ...
}

func (m manifest) String() string { return fmt.Sprintf("%s %T", m.file, m.obj) }

// newObject returns the API type of apiVersion/kind; the manifests use no
// other.
func newObject(tm metav1.TypeMeta) any {
	switch tm.APIVersion + "/" + tm.Kind {
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1/PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "batch/v1/Job":
		return &batchv1.Job{}
	case "batch/v1/CronJob":
		return &batchv1.CronJob{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	}
	return nil
}

// loadManifests decodes every document of kubernetes/*.yaml strictly: an
// unknown or misspelt field, a duplicate key or a bad quantity fails.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no kubernetes/*.yaml: %v", err)
	}
	var all []manifest
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
			if strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s document %d: %v", f, i+1, err)
			}
			obj := newObject(tm)
			if obj == nil {
				t.Fatalf("%s document %d: unexpected %s %s", f, i+1, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s document %d (%s): %v", f, i+1, tm.Kind, err)
			}
			all = append(all, manifest{file: filepath.Base(f), obj: obj})
		}
	}
	return all
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func find[T any](ms []manifest, name string) (*T, string) {
	for _, m := range ms {
		if o, ok := m.obj.(*T); ok && objectName(o) == name {
			return o, m.file
		}
	}
	return nil, ""
}

func all[T any](ms []manifest) []*T {
	var out []*T
	for _, m := range ms {
		if o, ok := m.obj.(*T); ok {
			out = append(out, o)
		}
	}
	return out
}

func objectName(o any) string {
	if m, ok := o.(interface{ GetName() string }); ok {
		return m.GetName()
	}
	return ""
}

// workload is a pod template with what runs it.
type workload struct {
	name    string // Kind/name
	pod     corev1.PodSpec
	labels  map[string]string
	command string // the idbatch command: run, serve
}

func workloads(t *testing.T, ms []manifest) []workload {
	t.Helper()
	var out []workload
	add := func(kind, name string, tpl corev1.PodTemplateSpec) {
		w := workload{name: kind + "/" + name, pod: tpl.Spec, labels: tpl.Labels}
		if len(tpl.Spec.Containers) != 1 {
			t.Fatalf("%s: %d containers, want 1", w.name, len(tpl.Spec.Containers))
		}
		if a := tpl.Spec.Containers[0].Args; len(a) > 0 {
			w.command = a[0]
		}
		out = append(out, w)
	}
	for _, d := range all[appsv1.Deployment](ms) {
		add("Deployment", d.Name, d.Spec.Template)
	}
	for _, j := range all[batchv1.Job](ms) {
		add("Job", j.Name, j.Spec.Template)
	}
	for _, c := range all[batchv1.CronJob](ms) {
		add("CronJob", c.Name, c.Spec.JobTemplate.Spec.Template)
	}
	if len(out) == 0 {
		t.Fatal("no workloads")
	}
	return out
}

// flagValue returns the value of -name in args (idbatch's flag syntax:
// "-name value" or "-name=value").
func flagValue(args []string, name string) (string, bool) {
	for i, a := range args {
		a = strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if a == name && i+1 < len(args) {
			return args[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// podConfig returns the idbatch config a workload reads: the ConfigMap key
// mounted at the path given to -c.
func podConfig(t *testing.T, ms []manifest, w workload) (cmName, text string) {
	t.Helper()
	c := w.pod.Containers[0]
	path, ok := flagValue(c.Args, "c")
	if !ok {
		t.Fatalf("%s: args %q have no -c", w.name, c.Args)
	}
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range w.pod.Volumes {
			if v.Name != vm.Name || v.ConfigMap == nil {
				continue
			}
			key := rel
			for _, it := range v.ConfigMap.Items {
				if it.Path == rel {
					key = it.Key
				}
			}
			cm, _ := find[corev1.ConfigMap](ms, v.ConfigMap.Name)
			if cm == nil {
				t.Fatalf("%s: ConfigMap %s is in no manifest", w.name, v.ConfigMap.Name)
			}
			text, ok := cm.Data[key]
			if !ok {
				t.Fatalf("%s: ConfigMap %s has no key %s", w.name, cm.Name, key)
			}
			return cm.Name, text
		}
	}
	t.Fatalf("%s: -c %s is on no ConfigMap volume", w.name, path)
	return "", ""
}

// keyPaths lists the dotted paths of every key of a YAML document.
func keyPaths(t *testing.T, text string) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.UnmarshalStrict([]byte(text), &doc); err != nil {
		t.Fatalf("config: %v", err)
	}
	out := map[string]any{}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			p := prefix + k
			out[p] = v
			if sub, ok := v.(map[string]any); ok {
				walk(p+".", sub)
			}
		}
	}
	walk("", doc)
	return out
}

// openMaps are config keys whose values are maps passed through to the
// API, with any keys (config.go: IdenfyConfig.Token is map[string]any).
var openMaps = []string{"idenfy.token"}

// checkConfigKeys: every key of config is one of configs/example.yaml ("every
// key, with its default"), or under one of openMaps.
func checkConfigKeys(t *testing.T, where, config string) {
	t.Helper()
	ref, err := os.ReadFile(filepath.Join(repoRoot, "configs", "example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	known := keyPaths(t, string(ref))
	var unknown []string
	for p := range keyPaths(t, config) {
		if _, ok := known[p]; ok {
			continue
		}
		if slices.ContainsFunc(openMaps, func(o string) bool { return strings.HasPrefix(p, o+".") }) {
			continue
		}
		unknown = append(unknown, p)
	}
	sort.Strings(unknown)
	if len(unknown) > 0 {
		t.Errorf("%s: config keys that configs/example.yaml does not have: %v", where, unknown)
	}
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// configEnv lists the ${VAR}s a config references.
func configEnv(config string) []string {
	var out []string
	for _, m := range envRef.FindAllStringSubmatch(stripComments(config), -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	sort.Strings(out)
	return out
}

// configValue returns the value at a dotted key path of a config ("" and
// false when absent).
func configValue(t *testing.T, config, path string) (string, bool) {
	v, ok := keyPaths(t, config)[path]
	if !ok {
		return "", false
	}
	return fmt.Sprint(v), true
}

// listenPort is the port of a listen address such as ":8080".
func listenPort(t *testing.T, addr string) int32 {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("listen address %q has no port", addr)
	}
	return int32(p)
}

// resolvePort turns a port reference (number or name) into the container's
// port number.
func resolvePort(c corev1.Container, p intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && cp.Name == p.StrVal) || (p.Type == intstr.Int && cp.ContainerPort == p.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func TestManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t)
	kinds := map[string]int{}
	for _, m := range ms {
		kinds[fmt.Sprintf("%T", m.obj)]++
	}
	for _, want := range []string{"*v1.ConfigMap", "*v1.Secret", "*v1.Job", "*v1.CronJob", "*v1.Deployment", "*v1.Service", "*v1.PersistentVolumeClaim"} {
		if kinds[want] == 0 {
			t.Errorf("no %s among the manifests (%v)", want, kinds)
		}
	}
	// The decoder is strict: a misspelt field fails.
	bad := "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec:\n  completionsMode: Indexed\n"
	if err := yaml.UnmarshalStrict([]byte(bad), &batchv1.Job{}); err == nil {
		t.Error("UnmarshalStrict accepted an unknown field")
	}
}

// TestConfigsAgreeWithIdbatch: each workload's config has only keys idbatch
// knows, every ${VAR} it references is in the pod's env, and every Secret
// key the env names exists in the example Secret.
func TestConfigsAgreeWithIdbatch(t *testing.T) {
	ms := loadManifests(t)
	secret, _ := find[corev1.Secret](ms, "idbatch-secrets")
	if secret == nil {
		t.Fatal("no Secret idbatch-secrets")
	}
	for _, cm := range all[corev1.ConfigMap](ms) {
		for key, text := range cm.Data {
			checkConfigKeys(t, "ConfigMap "+cm.Name+" "+key, text)
		}
	}
	for _, w := range workloads(t, ms) {
		_, config := podConfig(t, ms, w)
		c := w.pod.Containers[0]
		env := map[string]corev1.EnvVar{}
		for _, e := range c.Env {
			env[e.Name] = e
		}
		if len(c.EnvFrom) > 0 {
			t.Errorf("%s: envFrom: name each variable (env) so that this test can check it", w.name)
		}
		for _, v := range configEnv(config) {
			if _, ok := env[v]; !ok {
				t.Errorf("%s: the config references ${%s}, the pod's env does not set it", w.name, v)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
				continue
			}
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secret.Name {
				t.Errorf("%s: env %s from Secret %s, which is in no manifest", w.name, e.Name, ref.Name)
			} else if _, ok := secret.StringData[ref.Key]; !ok {
				t.Errorf("%s: env %s from key %s, which Secret %s does not have", w.name, e.Name, ref.Key, secret.Name)
			}
		}
	}
}

func TestIndexedJob(t *testing.T) {
	ms := loadManifests(t)
	jobs := all[batchv1.Job](ms)
	if len(jobs) != 1 {
		t.Fatalf("%d Jobs, want the one Indexed Job of workers", len(jobs))
	}
	j := jobs[0]
	if j.Spec.CompletionMode == nil || *j.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Errorf("Job %s: completionMode %v, want Indexed (JOB_COMPLETION_INDEX names the worker)", j.Name, j.Spec.CompletionMode)
	}
	if j.Spec.Completions == nil || j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism || *j.Spec.Completions < 1 {
		t.Errorf("Job %s: completions %s, parallelism %s: want both set and equal (N workers at once)", j.Name, deref(j.Spec.Completions), deref(j.Spec.Parallelism))
	}
	if j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("Job %s: restartPolicy %s, want Never (podFailurePolicy)", j.Name, j.Spec.Template.Spec.RestartPolicy)
	}
	w := workloads(t, []manifest{{file: "job", obj: j}})[0]
	if w.command != "run" {
		t.Errorf("Job %s runs %q, want idbatch run", j.Name, w.command)
	}
	if _, ok := flagValue(w.pod.Containers[0].Args, "worker"); ok {
		t.Errorf("Job %s: -worker in args: every index would get the same; JOB_COMPLETION_INDEX names the worker", j.Name)
	}
	_, config := podConfig(t, ms, w)
	if v, ok := configValue(t, config, "results.webhook_listen"); !ok || v != "" {
		t.Errorf("Job %s: results.webhook_listen %q, want \"\": workers receive no webhooks, serve does", j.Name, v)
	}
	if v, _ := configValue(t, config, "store"); v != "${IDBATCH_STORE_DSN}" {
		t.Errorf("Job %s: store %q, want the PostgreSQL DSN from the Secret", j.Name, v)
	}
}

func TestCronJobSQLite(t *testing.T) {
	ms := loadManifests(t)
	crons := all[batchv1.CronJob](ms)
	if len(crons) != 1 {
		t.Fatalf("%d CronJobs, want 1", len(crons))
	}
	c := crons[0]
	if c.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
		t.Errorf("CronJob %s: concurrencyPolicy %q, want Forbid: one SQLite writer at a time", c.Name, c.Spec.ConcurrencyPolicy)
	}
	w := workloads(t, []manifest{{file: "cron", obj: c}})[0]
	_, config := podConfig(t, ms, w)
	store, _ := configValue(t, config, "store")
	path, ok := strings.CutPrefix(store, "sqlite://")
	if !ok || !strings.HasPrefix(path, "/") {
		t.Fatalf("CronJob %s: store %q, want sqlite:///absolute/path on the volume", c.Name, store)
	}
	onPVC := false
	for _, vm := range w.pod.Containers[0].VolumeMounts {
		if !strings.HasPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/") {
			continue
		}
		for _, v := range w.pod.Volumes {
			if v.Name == vm.Name && v.PersistentVolumeClaim != nil && !vm.ReadOnly {
				if pvc, _ := find[corev1.PersistentVolumeClaim](ms, v.PersistentVolumeClaim.ClaimName); pvc == nil {
					t.Errorf("CronJob %s: claim %s is in no manifest", c.Name, v.PersistentVolumeClaim.ClaimName)
				}
				onPVC = true
			}
		}
	}
	if !onPVC {
		t.Errorf("CronJob %s: the SQLite file %s is not on a writable PersistentVolumeClaim mount", c.Name, path)
	}
	if w.pod.SecurityContext == nil || w.pod.SecurityContext.FSGroup == nil {
		t.Errorf("CronJob %s: no fsGroup: the non-root user cannot write the volume", c.Name)
	}
}

// TestServeDeployment: the receiver listens where the container port and
// the Service point, and is probed on /healthz.
func TestServeDeployment(t *testing.T) {
	ms := loadManifests(t)
	var serve *workload
	for _, w := range workloads(t, ms) {
		if w.command == "serve" {
			serve = &w
		}
	}
	if serve == nil {
		t.Fatal("no workload runs idbatch serve")
	}
	c := serve.pod.Containers[0]
	_, config := podConfig(t, ms, *serve)
	listen, ok := flagValue(c.Args, "listen")
	if !ok {
		listen, _ = configValue(t, config, "results.webhook_listen")
	}
	if listen == "" {
		t.Fatalf("%s: serve has no listen address (-listen or results.webhook_listen)", serve.name)
	}
	port := listenPort(t, listen)
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != port {
		t.Errorf("%s: container ports %+v, want the one serve listens on, %d", serve.name, c.Ports, port)
	}
	for name, p := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: no HTTP %s", serve.name, name)
			continue
		}
		if p.HTTPGet.Path != healthzPath {
			t.Errorf("%s: %s on %s, serve answers %s", serve.name, name, p.HTTPGet.Path, healthzPath)
		}
		if got, ok := resolvePort(c, p.HTTPGet.Port); !ok || got != port {
			t.Errorf("%s: %s on port %s, serve listens on %d", serve.name, name, p.HTTPGet.Port.String(), port)
		}
	}
	selected := 0
	for _, s := range all[corev1.Service](ms) {
		if !selects(s.Spec.Selector, serve.labels) {
			continue
		}
		selected++
		for _, sp := range s.Spec.Ports {
			if got, ok := resolvePort(c, sp.TargetPort); !ok || got != port {
				t.Errorf("Service %s: targetPort %s, serve listens on %d", s.Name, sp.TargetPort.String(), port)
			}
		}
	}
	if selected != 1 {
		t.Errorf("%d Services select %s, want 1", selected, serve.name)
	}
	// Only the receiver and the single-node run are behind a Service: a
	// worker of the Indexed Job listens on nothing.
	for _, s := range all[corev1.Service](ms) {
		for _, w := range workloads(t, ms) {
			if !selects(s.Spec.Selector, w.labels) {
				continue
			}
			_, config := podConfig(t, ms, w)
			listen, ok := flagValue(w.pod.Containers[0].Args, "listen")
			if !ok {
				listen, _ = configValue(t, config, "results.webhook_listen")
			}
			if listen == "" {
				t.Errorf("Service %s selects %s, which listens on nothing", s.Name, w.name)
				continue
			}
			for _, sp := range s.Spec.Ports {
				if got, ok := resolvePort(w.pod.Containers[0], sp.TargetPort); !ok || got != listenPort(t, listen) {
					t.Errorf("Service %s: targetPort %s, %s listens on %s", s.Name, sp.TargetPort.String(), w.name, listen)
				}
			}
		}
	}
}

// healthzPath is served by `idbatch serve` (TestServeRunsTheManifests
// requests it from the binary).
const healthzPath = "/healthz"

func deref(p *int32) string {
	if p == nil {
		return "unset"
	}
	return strconv.Itoa(int(*p))
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestPodsRunAsNonRoot: every pod runs as the image's non-root user, with no
// privilege escalation, no capabilities and a read-only root file system,
// the image idbatch's, and a grace period that covers the soft stop.
func TestPodsRunAsNonRoot(t *testing.T) {
	ms := loadManifests(t)
	var image string
	for _, w := range workloads(t, ms) {
		ps := w.pod.SecurityContext
		if ps == nil || ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || strconv.FormatInt(*ps.RunAsUser, 10) != nonrootUID {
			t.Errorf("%s: pod securityContext %+v: want runAsNonRoot and runAsUser %s (the Dockerfile's USER)", w.name, ps, nonrootUID)
		}
		c := w.pod.Containers[0]
		cs := c.SecurityContext
		if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation ||
			cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem ||
			cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") {
			t.Errorf("%s: container securityContext %+v: want allowPrivilegeEscalation false, readOnlyRootFilesystem, drop ALL", w.name, cs)
		}
		if len(c.Command) > 0 {
			t.Errorf("%s: command %q overrides the image's ENTRYPOINT; give args", w.name, c.Command)
		}
		if image == "" {
			image = c.Image
		} else if c.Image != image {
			t.Errorf("%s: image %s, others %s: one image for every workload", w.name, c.Image, image)
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: want a CPU request and a memory limit", w.name)
		}
		if w.command == "run" {
			g := w.pod.TerminationGracePeriodSeconds
			if g == nil || *g < softStopSeconds {
				t.Errorf("%s: terminationGracePeriodSeconds %v, want >= %d: the soft stop finishes records in flight (60 s) and exports", w.name, g, softStopSeconds)
			}
		}
	}
}

// softStopSeconds bounds idbatch run's soft stop: a /process in flight (the
// client's 60 s HTTP timeout), then another worker's export of the job if
// one runs (one at a time) and its own (about 60 s each for a worker's share).
const softStopSeconds = 180

// TestReadmeNamesTheArtifacts keeps README "Scale out" and the files in step.
func TestReadmeNamesTheArtifacts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := bytes.Cut(b, []byte("\n## Scale out\n"))
	if !ok {
		t.Fatal(`README.md has no "## Scale out" section`)
	}
	if i := bytes.Index(section, []byte("\n## ")); i >= 0 {
		section = section[:i]
	}
	files, _ := filepath.Glob("kubernetes/*.yaml")
	more, _ := filepath.Glob("aws-batch/*")
	for _, f := range append(files, more...) {
		if !bytes.Contains(section, []byte("deploy/"+f)) && !bytes.Contains(section, []byte(filepath.Base(f))) {
			t.Errorf("README \"Scale out\" does not mention deploy/%s", f)
		}
	}
	if !bytes.Contains(section, []byte(strconv.Itoa(softStopSeconds))) {
		t.Errorf("README \"Scale out\" does not give the grace period (%d s)", softStopSeconds)
	}
}
