package config

import (
	"strings"
	"testing"
)

func TestWorkerIndex(t *testing.T) {
	for _, tc := range []struct {
		desc      string
		flag      string
		env       map[string]string
		index     int
		name      string
		errSource string // non-empty: an error naming this source
	}{
		{desc: "nothing set", index: 0, name: "w0"},
		{desc: "flag", flag: "3", index: 3, name: "w3"},
		{desc: "flag beats both envs", flag: "2", env: map[string]string{EnvK8sIndex: "5", EnvBatchIndex: "7"}, index: 2, name: "w2"},
		{desc: "kubernetes", env: map[string]string{EnvK8sIndex: "5"}, index: 5, name: "w5"},
		{desc: "kubernetes beats batch", env: map[string]string{EnvK8sIndex: "5", EnvBatchIndex: "7"}, index: 5, name: "w5"},
		{desc: "batch", env: map[string]string{EnvBatchIndex: "7"}, index: 7, name: "w7"},
		{desc: "zero is a real index", env: map[string]string{EnvK8sIndex: "0", EnvBatchIndex: "7"}, index: 0, name: "w0"},
		{desc: "spaces around are trimmed", env: map[string]string{EnvBatchIndex: " 12\n"}, index: 12, name: "w12"},
		{desc: "large", flag: "9999", index: 9999, name: "w9999"},
		{desc: "negative flag", flag: "-1", errSource: "-worker"},
		{desc: "word flag", flag: "one", errSource: "-worker"},
		{desc: "float flag", flag: "1.5", errSource: "-worker"},
		{desc: "bad kubernetes index does not fall through to batch", env: map[string]string{EnvK8sIndex: "x", EnvBatchIndex: "7"}, errSource: EnvK8sIndex},
		{desc: "bad batch index", env: map[string]string{EnvBatchIndex: "-3"}, errSource: EnvBatchIndex},
		{desc: "overflow", flag: "99999999999999999999", errSource: "-worker"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			getenv := func(k string) string { return tc.env[k] }
			index, name, err := WorkerIndex(tc.flag, getenv)
			if tc.errSource != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errSource) {
					t.Fatalf("WorkerIndex(%q, %v) = %d, %q, %v; want an error naming %s", tc.flag, tc.env, index, name, err, tc.errSource)
				}
				return
			}
			if err != nil || index != tc.index || name != tc.name {
				t.Fatalf("WorkerIndex(%q, %v) = %d, %q, %v; want %d, %q", tc.flag, tc.env, index, name, err, tc.index, tc.name)
			}
		})
	}
}
