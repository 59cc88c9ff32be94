// Package csdk_test checks that guest-sdk/c/postern.h says what abi/abi.go
// says, so the C SDK cannot drift from the ABI's numbers and names.
package csdk_test

import (
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/abi/kvbatch"
)

func header(t *testing.T) (nums map[string]int64, strs map[string]string, imports []string) {
	b, err := os.ReadFile("postern.h")
	if err != nil {
		t.Fatal(err)
	}
	nums, strs = map[string]int64{}, map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#define POSTERN_(\w+) \(?(-?\d+)\)?$`).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.ParseInt(m[2], 10, 64)
		nums[m[1]] = n
	}
	for _, m := range regexp.MustCompile(`(?m)^#define POSTERN_(\w+) "([^"]*)"$`).FindAllStringSubmatch(string(b), -1) {
		strs[m[1]] = m[2]
	}
	for _, m := range regexp.MustCompile(`(?m)^POSTERN_IMPORT\("(\w+)"\)`).FindAllStringSubmatch(string(b), -1) {
		imports = append(imports, m[1])
	}
	return nums, strs, imports
}

func TestHeader_matchesABI(t *testing.T) {
	nums, strs, imports := header(t)
	want := map[string]int64{
		"ABI_VERSION_MAJOR": abi.VersionMajor, "ABI_VERSION_MINOR": abi.VersionMinor,
		"INIT_OK": int64(abi.InitOK), "INIT_REFUSE": int64(abi.InitRefuse), "MAX_RETRIES": abi.MaxRetries,
		"FIELD_MAX":   int64(abi.FieldMax),
		"LEVEL_DEBUG": int64(abi.LevelDebug), "LEVEL_INFO": int64(abi.LevelInfo),
		"LEVEL_WARN": int64(abi.LevelWarn), "LEVEL_ERROR": int64(abi.LevelError),
		"HTTP_PART_HEADERS": int64(abi.HTTPPartHeaders), "HTTP_PART_BODY": int64(abi.HTTPPartBody),
		"MAX_FIELD_BYTES": abi.MaxFieldBytes, "MAX_KEY_BYTES": abi.MaxKeyBytes,
		"MAX_KV_VALUE_BYTES": abi.MaxKVValueBytes, "MAX_LOG_BYTES": abi.MaxLogBytes,
		"MAX_HTTP_BODY": abi.MaxHTTPBody, "MAX_DELAY_MS": abi.MaxDelayMS, "MAX_REUSE_MS": abi.MaxReuseMS, "MAX_KEY_NAME_BYTES": abi.MaxKeyNameBytes,
		"ERR_UNKNOWN_FIELD": int64(abi.ErrUnknownField), "ERR_NOT_AVAILABLE": int64(abi.ErrNotAvailable),
		"ERR_READ_ONLY": int64(abi.ErrReadOnly), "ERR_INVALID": int64(abi.ErrInvalid),
		"ERR_NOT_FOUND": int64(abi.ErrNotFound), "ERR_UNAVAILABLE": int64(abi.ErrUnavailable),
		"ERR_TOO_LARGE": int64(abi.ErrTooLarge), "ERR_DENIED": int64(abi.ErrDenied),
		"ERR_EXISTS": int64(abi.ErrExists), "ERR_TIMEOUT": int64(abi.ErrTimeout),
		"METRIC_GAUGE": int64(abi.MetricGauge), "METRIC_HISTOGRAM": int64(abi.MetricHistogram),
		"MAX_METRICS": abi.MaxMetrics, "MAX_METRIC_BUCKETS": abi.MaxMetricBuckets,
		"MAX_METRIC_NAME_BYTES": abi.MaxMetricNameBytes, "MAX_METRIC_HELP_BYTES": abi.MaxMetricHelpBytes,
		"KV_GET": int64(kvbatch.OpGet), "KV_SET": int64(kvbatch.OpSet), "KV_ADD": int64(kvbatch.OpAdd),
		"KV_INCR": int64(kvbatch.OpIncr), "KV_DECR": int64(kvbatch.OpDecr), "KV_DELETE": int64(kvbatch.OpDelete),
		"KV_BATCH_MAX": kvbatch.MaxOps,
	}
	for f := abi.Field(1); f <= abi.FieldMax; f++ {
		if !f.Defined() {
			continue
		}
		want["FIELD_"+strings.ToUpper(f.String())] = int64(f)
	}
	for v := abi.VerdictContinue; v <= abi.VerdictRetry; v++ {
		want["VERDICT_"+strings.ToUpper(v.String())] = int64(v)
	}
	for _, h := range abi.Hooks {
		want["HOOK_"+strings.ToUpper(h.String())] = int64(h)
	}
	for _, e := range abi.Events {
		want["EVENT_"+strings.ToUpper(e.String())] = int64(e)
	}
	for name, v := range want {
		got, ok := nums[name]
		if !ok {
			t.Errorf("postern.h has no POSTERN_%s (abi.go: %d)", name, v)
		} else if got != v {
			t.Errorf("POSTERN_%s = %d; abi.go says %d", name, got, v)
		}
	}
	for name := range nums {
		if _, ok := want[name]; !ok {
			t.Errorf("POSTERN_%s is not checked against abi.go: add it to this test", name)
		}
	}
	wantStrs := map[string]string{"FEATURE_ABI_1_0": abi.FeatureABI10, "FEATURE_KV_SHARED": abi.FeatureKVShared, "FEATURE_HTTP_CALL": abi.FeatureHTTPCall,
		"FEATURE_RESPONSE_HOOK": abi.FeatureResponseHook, "FEATURE_METRICS": abi.FeatureMetrics,
		"FEATURE_ABI_1_2": abi.FeatureABI12}
	for name, v := range wantStrs {
		if strs[name] != v {
			t.Errorf("POSTERN_%s = %q; abi.go says %q", name, strs[name], v)
		}
	}
	wantImports := []string{abi.ImportFeature, abi.ImportLog, abi.ImportConfigGet, abi.ImportFieldGet, abi.ImportFieldSet,
		abi.ImportFieldGetKey, abi.ImportFieldSetKey, abi.ImportFieldDeleteKey, abi.ImportKVGet, abi.ImportKVSet,
		abi.ImportKVAdd, abi.ImportKVIncr, abi.ImportKVDelete, abi.ImportKVBatch, abi.ImportHTTPCall, abi.ImportHTTPResponseGet,
		abi.ImportClockNow, abi.ImportCounterAdd,
		abi.ImportMetricDeclare, abi.ImportMetricGaugeSet, abi.ImportMetricGaugeAdd, abi.ImportMetricObserve}
	sort.Strings(wantImports)
	sort.Strings(imports)
	if strings.Join(imports, " ") != strings.Join(wantImports, " ") {
		t.Errorf("postern.h imports\n  %v\nabi.go names\n  %v", imports, wantImports)
	}
}
