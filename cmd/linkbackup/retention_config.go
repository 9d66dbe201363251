package main

import (
	"errors"
	"fmt"
	"time"
	// The IANA database is embedded, so retention.time_zone works on hosts without tzdata.
	_ "time/tzdata"

	"github.com/linkagogo/linkbackup/backup/retention"
)

// RetentionConfig is the policy of `linkbackup forget` (and the forget step of nightly),
// with restic's semantics per database in the store (backup/retention). Whatever it
// says, forget keeps the newest snapshot, the newest one proven by a standby drill, the
// ones the standby serves and keeps as previous, everything newer than the newest proven
// one, and pinned snapshots.
type RetentionConfig struct {
	// KeepLast keeps the N newest snapshots. Default 0 (off).
	KeepLast int `yaml:"keep_last"`
	// KeepDaily keeps the newest snapshot of each of the last N days that have one.
	// Default 0 (off).
	KeepDaily int `yaml:"keep_daily"`
	// KeepWeekly: the same per ISO week (Monday to Sunday). Default 0 (off).
	KeepWeekly int `yaml:"keep_weekly"`
	// KeepMonthly: the same per calendar month. Default 0 (off).
	KeepMonthly int `yaml:"keep_monthly"`
	// KeepYearly: the same per calendar year. Default 0 (off).
	KeepYearly int `yaml:"keep_yearly"`
	// KeepWithin keeps every snapshot started within this span before now: numbers with
	// units y, m (months), w, d, h, e.g. "3d", "1y6m", "36h". Default "" (off).
	KeepWithin string `yaml:"keep_within"`
	// AllowUnproven applies the policy to a database that no standby drill ever proved (no
	// standby for it). Default false: such a database keeps every snapshot, with a warning.
	AllowUnproven bool `yaml:"allow_unproven"`
	// TimeZone is the IANA zone whose calendar days, weeks, months and years the buckets
	// follow (e.g. Europe/Berlin). Default "UTC".
	TimeZone string `yaml:"time_zone"`
}

// DefaultRetentionConfig: no policy (forget refuses until one is set; nightly skips its
// forget step), buckets in UTC.
func DefaultRetentionConfig() RetentionConfig { return RetentionConfig{TimeZone: "UTC"} }

// Policy returns the parsed policy and time zone.
func (c RetentionConfig) Policy() (retention.Policy, *time.Location, error) {
	within, err := retention.ParseDuration(c.KeepWithin)
	if err != nil {
		return retention.Policy{}, nil, fmt.Errorf("retention.keep_within (--keep-within): %w", err)
	}
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return retention.Policy{}, nil, fmt.Errorf("retention.time_zone (--time-zone) %q: want an IANA zone like UTC or Europe/Berlin: %v", c.TimeZone, err)
	}
	return retention.Policy{Last: c.KeepLast, Daily: c.KeepDaily, Weekly: c.KeepWeekly, Monthly: c.KeepMonthly,
		Yearly: c.KeepYearly, Within: within, AllowUnproven: c.AllowUnproven}, loc, nil
}

// Validate checks the values; an empty policy is valid here (commands decide).
func (c RetentionConfig) Validate() error {
	p, _, err := c.Policy()
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil && !errors.Is(err, retention.ErrEmptyPolicy) {
		return err
	}
	return nil
}
