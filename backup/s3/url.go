package s3

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// URL query parameters understood by ParseURL, with the Config field each sets.
var urlParams = []string{
	"endpoint",      // Endpoint: http://127.0.0.1:7070
	"region",        // Region: us-east-1, auto
	"path_style",    // PathStyle: true/false
	"checksum",      // ChecksumWhenRequired: when_required or when_supported (default)
	"part_size_mb",  // PartSize in MiB (≥ 5)
	"concurrency",   // Concurrency (≥ 1)
	"max_attempts",  // MaxAttempts (≥ 1)
	"timeout",       // Timeout: a Go duration (1s to 1h), e.g. 60s
	"create_bucket", // CreateBucket: true/false
}

// ParseURL parses s3://bucket/prefix?endpoint=http://127.0.0.1:7070&path_style=true&
// region=us-east-1&checksum=when_required&part_size_mb=16&concurrency=2&max_attempts=5&
// create_bucket=false into a Config. Credentials are never taken from the URL: use
// AWS_ACCESS_KEY_ID[_FILE]/AWS_SECRET_ACCESS_KEY[_FILE] or an AWS profile.
func ParseURL(raw string) (Config, error) {
	var c Config
	u, err := parseLocation(raw)
	if err != nil {
		return c, err
	}
	c.Bucket = u.Host
	c.Prefix = strings.Trim(u.Path, "/")
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return c, fmt.Errorf("s3 url %q: query: %w", raw, err)
	}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(q)) {
		vs := q[k]
		if !slices.Contains(urlParams, k) {
			errs = append(errs, fmt.Errorf("unknown parameter %q (known: %s)", k, strings.Join(urlParams, ", ")))
			continue
		}
		if len(vs) != 1 {
			errs = append(errs, fmt.Errorf("parameter %q given %d times", k, len(vs)))
			continue
		}
		if err := applyParam(&c, k, vs[0]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("s3 url %q: %w", u.Redacted(), err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("s3 url %q: %w", u.Redacted(), err)
	}
	return c, nil
}

// parseLocation parses raw and checks its shape: s3://bucket[/prefix][?query], no
// credentials, no fragment.
func parseLocation(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("s3 url: %w", err)
	}
	if u.Scheme != "s3" {
		return nil, fmt.Errorf("s3 url %q: scheme must be s3://", raw)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("s3 url %q: want s3://bucket[/prefix][?endpoint=...]", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("s3 url: credentials do not belong in the URL (they would show in process lists and logs): use AWS_ACCESS_KEY_ID_FILE/AWS_SECRET_ACCESS_KEY_FILE, the AWS_* variables or an AWS profile")
	}
	if u.Fragment != "" {
		return nil, fmt.Errorf("s3 url %q: unexpected fragment #%s", raw, u.Fragment)
	}
	return u, nil
}

// applyParam sets the Config field of the known query parameter k to v. The field is set
// even when v is out of range (the error is reported and the Config discarded).
func applyParam(c *Config, k, v string) error {
	var err error
	switch k {
	case "endpoint":
		e, perr := url.Parse(v)
		c.Endpoint = strings.TrimRight(v, "/")
		if perr != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" {
			return fmt.Errorf("endpoint %q: want http://host[:port] or https://host[:port]", v)
		}
	case "region":
		c.Region = v
	case "path_style":
		c.PathStyle, err = strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("path_style %q: want true or false", v)
		}
	case "create_bucket":
		c.CreateBucket, err = strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("create_bucket %q: want true or false", v)
		}
	case "checksum":
		switch v {
		case "when_required":
			c.ChecksumWhenRequired = true
		case "when_supported":
		default:
			return fmt.Errorf("checksum %q: want when_required or when_supported", v)
		}
	case "part_size_mb":
		n, err := strconv.ParseInt(v, 10, 64)
		c.PartSize = n << 20
		if err != nil || n < MinPartSize>>20 || n > MaxPartSize>>20 {
			return fmt.Errorf("part_size_mb %q: want a whole number from 5 to 5120", v)
		}
	case "concurrency":
		n, err := strconv.Atoi(v)
		c.Concurrency = n
		if err != nil || n < 1 || n > 64 {
			return fmt.Errorf("concurrency %q: want a whole number from 1 to 64", v)
		}
	case "timeout":
		d, err := time.ParseDuration(v)
		c.Timeout = d
		if err != nil || d < time.Second || d > time.Hour {
			return fmt.Errorf("timeout %q: want a duration from 1s to 1h, e.g. 60s", v)
		}
	case "max_attempts":
		n, err := strconv.Atoi(v)
		c.MaxAttempts = n
		if err != nil || n < 1 || n > 20 {
			return fmt.Errorf("max_attempts %q: want a whole number from 1 to 20", v)
		}
	}
	return nil
}
