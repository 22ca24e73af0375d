package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The fields of AWS Batch's RegisterJobDefinition and SubmitJob requests that
// the files use (names as in the Batch API reference; no AWS SDK needed). A
// field not listed here fails the decoding: add it here when the files use it.
type batchJobDefinition struct {
	JobDefinitionName    string              `json:"jobDefinitionName"`
	Type                 string              `json:"type"`
	PlatformCapabilities []string            `json:"platformCapabilities"`
	PropagateTags        bool                `json:"propagateTags"`
	ContainerProperties  batchContainerProps `json:"containerProperties"`
	RetryStrategy        struct {
		Attempts       int `json:"attempts"`
		EvaluateOnExit []struct {
			OnExitCode     string `json:"onExitCode,omitempty"`
			OnReason       string `json:"onReason,omitempty"`
			OnStatusReason string `json:"onStatusReason,omitempty"`
			Action         string `json:"action"`
		} `json:"evaluateOnExit"`
	} `json:"retryStrategy"`
	Timeout struct {
		AttemptDurationSeconds int `json:"attemptDurationSeconds"`
	} `json:"timeout"`
	Tags map[string]string `json:"tags"`
}

type batchContainerProps struct {
	Image                  string   `json:"image"`
	Command                []string `json:"command"`
	JobRoleArn             string   `json:"jobRoleArn"`
	ExecutionRoleArn       string   `json:"executionRoleArn"`
	User                   string   `json:"user"`
	ReadonlyRootFilesystem bool     `json:"readonlyRootFilesystem"`
	ResourceRequirements   []struct {
		Type  string `json:"type"`
		Value string `json:"value"`
	} `json:"resourceRequirements"`
	Environment []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"environment"`
	Secrets []struct {
		Name      string `json:"name"`
		ValueFrom string `json:"valueFrom"`
	} `json:"secrets"`
	NetworkConfiguration struct {
		AssignPublicIP string `json:"assignPublicIp"`
	} `json:"networkConfiguration"`
	FargatePlatformConfiguration struct {
		PlatformVersion string `json:"platformVersion"`
	} `json:"fargatePlatformConfiguration"`
	LogConfiguration struct {
		LogDriver string `json:"logDriver"`
	} `json:"logConfiguration"`
}

type batchSubmitJob struct {
	JobName         string `json:"jobName"`
	JobQueue        string `json:"jobQueue"`
	JobDefinition   string `json:"jobDefinition"`
	ArrayProperties struct {
		Size int `json:"size"`
	} `json:"arrayProperties"`
	PropagateTags bool              `json:"propagateTags"`
	Tags          map[string]string `json:"tags"`
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if dec.More() {
		t.Fatalf("%s: more than one JSON value", path)
	}
}

// batchConfigPath is where aws-batch/Dockerfile puts aws-batch/config.yaml.
const batchConfigPath = "/etc/idbatch/config.yaml"

func TestBatchJobDefinition(t *testing.T) {
	var jd batchJobDefinition
	decodeStrict(t, "aws-batch/job-definition.json", &jd)
	c := jd.ContainerProperties
	if jd.Type != "container" || c.Image == "" {
		t.Errorf("type %q, image %q: want a container job with an image", jd.Type, c.Image)
	}
	if len(c.Command) == 0 || c.Command[0] != "run" {
		t.Errorf("command %q: want idbatch run (the image's ENTRYPOINT is the binary)", c.Command)
	}
	if p, _ := flagValue(c.Command, "c"); p != batchConfigPath {
		t.Errorf("command %q: -c %q, the Batch image has its config at %s", c.Command, p, batchConfigPath)
	}
	if c.User != nonrootUID {
		t.Errorf("user %q, want %s (the Dockerfile's USER)", c.User, nonrootUID)
	}
	if !c.ReadonlyRootFilesystem {
		t.Error("readonlyRootFilesystem is false")
	}
	if jd.RetryStrategy.Attempts < 1 || jd.RetryStrategy.Attempts > 10 {
		t.Errorf("retryStrategy.attempts %d: Batch allows 1…10", jd.RetryStrategy.Attempts)
	}
	// Exit codes 2 (usage) and 3 (too many failures) are not retried.
	exits := map[string]bool{}
	for _, e := range jd.RetryStrategy.EvaluateOnExit {
		if e.Action != "EXIT" && e.Action != "RETRY" {
			t.Errorf("evaluateOnExit action %q: EXIT or RETRY", e.Action)
		}
		if e.Action == "EXIT" {
			exits[e.OnExitCode] = true
		}
	}
	if !exits["2"] || !exits["3"] {
		t.Errorf("evaluateOnExit %+v: exit codes 2 and 3 must not be retried", jd.RetryStrategy.EvaluateOnExit)
	}
	// The attempt's timeout comes after idbatch stops itself: max_duration
	// plus wait_for_results (8h30m in aws-batch/config.yaml).
	if jd.Timeout.AttemptDurationSeconds < 8*3600+30*60 {
		t.Errorf("timeout %d s: shorter than limits.max_duration + wait_for_results", jd.Timeout.AttemptDurationSeconds)
	}
	var vcpu, mem float64
	for _, r := range c.ResourceRequirements {
		v, err := strconv.ParseFloat(r.Value, 64)
		if err != nil {
			t.Errorf("resourceRequirements %s: %q is not a number", r.Type, r.Value)
		}
		switch r.Type {
		case "VCPU":
			vcpu = v
		case "MEMORY":
			mem = v
		default:
			t.Errorf("resourceRequirements type %q", r.Type)
		}
	}
	if vcpu <= 0 || mem < 512 {
		t.Errorf("VCPU %v, MEMORY %v MiB: want both, memory >= 512", vcpu, mem)
	}
	if slices.Contains(jd.PlatformCapabilities, "FARGATE") && c.ExecutionRoleArn == "" {
		t.Error("Fargate with secrets needs executionRoleArn")
	}

	// The config baked into the image: keys idbatch knows, every ${VAR}
	// provided by secrets or environment, no webhook receiver in a worker.
	b, err := os.ReadFile("aws-batch/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	config := string(b)
	checkConfigKeys(t, "aws-batch/config.yaml", config)
	provided := map[string]bool{}
	for _, s := range c.Secrets {
		provided[s.Name] = true
		if !regexp.MustCompile(`^arn:aws:(secretsmanager|ssm):`).MatchString(s.ValueFrom) {
			t.Errorf("secret %s from %q: want a Secrets Manager or SSM ARN", s.Name, s.ValueFrom)
		}
	}
	for _, e := range c.Environment {
		provided[e.Name] = true
	}
	for _, v := range configEnv(config) {
		if !provided[v] {
			t.Errorf("aws-batch/config.yaml references ${%s}: neither secrets nor environment set it", v)
		}
	}
	if v, ok := configValue(t, config, "results.webhook_listen"); !ok || v != "" {
		t.Errorf("aws-batch/config.yaml: results.webhook_listen %q, want \"\" (serve receives the webhooks)", v)
	}
}

func TestBatchSubmission(t *testing.T) {
	var jd batchJobDefinition
	decodeStrict(t, "aws-batch/job-definition.json", &jd)
	var sj batchSubmitJob
	decodeStrict(t, "aws-batch/submit-job.json", &sj)
	if sj.JobDefinition != jd.JobDefinitionName {
		t.Errorf("submit-job.json runs %q, the definition is %q", sj.JobDefinition, jd.JobDefinitionName)
	}
	if sj.ArrayProperties.Size < 2 || sj.ArrayProperties.Size > 10000 {
		t.Errorf("arrayProperties.size %d: an array job has 2…10000 children", sj.ArrayProperties.Size)
	}
	script, err := os.ReadFile("aws-batch/submit-array-job.sh")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("sh", "-n", "aws-batch/submit-array-job.sh").CombinedOutput(); err != nil {
		t.Errorf("submit-array-job.sh: sh -n: %v\n%s", err, out)
	}
	for _, want := range []string{"--array-properties \"size=$N\"", "JOB_DEFINITION:-" + jd.JobDefinitionName + "}"} {
		if !strings.Contains(string(script), want) {
			t.Errorf("submit-array-job.sh lacks %q", want)
		}
	}
}
