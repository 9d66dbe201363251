package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/linkagogo/linkbackup/internal/pgdsn"
	"gopkg.in/yaml.v3"
)

// Loading the configuration: the YAML file (with $VAR expansion), the environment
// (LINKBACKUP_<KEY>), and the typed setters flags and both of them share; DSN and Secret
// keep passwords out of every printed form. config.go holds the keys, defaults and checks.

// DSN is a PostgreSQL connection string whose String() hides the password.
type DSN string

func (d DSN) String() string { return pgdsn.Redact(string(d)) }

// MarshalYAML keeps passwords out of `linkbackup config` output.
func (d DSN) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints.
type Secret string

func (Secret) String() string               { return "**redacted**" }
func (Secret) MarshalYAML() (any, error)    { return "**redacted**", nil }
func (s Secret) GoString() string           { return s.String() }
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// loadConfigFile reads YAML, expanding $VAR and ${VAR} from the environment first.
// Unknown keys are errors (a typo must not silently fall back to a default).
func loadConfigFile(cfg *Config, path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	expanded := os.Expand(string(raw), func(name string) string {
		if name == "$" {
			return "$"
		}
		return os.Getenv(name)
	})
	dec := yaml.NewDecoder(bytes.NewReader([]byte(expanded)))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) { // io.EOF: empty file
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// configKeys lists every settable key, e.g. "source", "backup.jobs".
func configKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				continue // lists of records (drill.invariants) are set in YAML only
			}
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(f.Type, prefix+tag+".")
				continue
			}
			keys = append(keys, prefix+tag)
		}
	}
	walk(reflect.TypeOf(Config{}), "")
	sort.Strings(keys)
	return keys
}

// envName returns the environment variable of key: backup.jobs -> LINKBACKUP_BACKUP_JOBS.
func envName(key string) string {
	return "LINKBACKUP_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// applyEnv sets every key whose environment variable is present.
func applyEnv(cfg *Config, lookup func(string) (string, bool)) error {
	for _, k := range configKeys() {
		if v, ok := lookup(envName(k)); ok {
			if err := setKey(cfg, k, v); err != nil {
				return fmt.Errorf("%s: %w", envName(k), err)
			}
		}
	}
	return nil
}

// lookupKey returns the settable field for a dotted key.
func lookupKey(cfg *Config, key string) (reflect.Value, error) {
	v := reflect.ValueOf(cfg).Elem()
	for _, part := range strings.Split(key, ".") {
		found := false
		for i := 0; i < v.NumField(); i++ {
			if strings.Split(v.Type().Field(i).Tag.Get("yaml"), ",")[0] == part {
				v = v.Field(i)
				found = true
				break
			}
		}
		if !found {
			return reflect.Value{}, fmt.Errorf("unknown config key %q", key)
		}
	}
	return v, nil
}

// setKey parses s into the field named by key.
func setKey(cfg *Config, key, s string) error {
	v, err := lookupKey(cfg, key)
	if err != nil {
		return err
	}
	bad := func(want string) error { return fmt.Errorf("%s: %q is not %s", key, s, want) }
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(s)
		if err != nil {
			return bad("a duration like 30s or 2h")
		}
		v.SetInt(int64(d))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Int || v.Kind() == reflect.Int64:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return bad("an integer")
		}
		v.SetInt(n)
	case v.Kind() == reflect.Float64:
		n, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return bad("a number")
		}
		v.SetFloat(n)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return bad("true or false")
		}
		v.SetBool(b)
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String:
		var parts []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		sl := reflect.MakeSlice(v.Type(), len(parts), len(parts))
		for i, p := range parts {
			sl.Index(i).SetString(p)
		}
		v.Set(sl)
	default:
		return fmt.Errorf("%s: cannot be set from text", key)
	}
	return nil
}
