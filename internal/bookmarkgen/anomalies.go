package bookmarkgen

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// addAnomalies applies Options.Inconsistent inside tx; see the Anomaly* constants.
// The rows are chosen by queries over the generated data, so they are deterministic too.
func addAnomalies(ctx context.Context, tx pgx.Tx, opts Options) ([]Anomaly, error) {
	f := int64(opts.folders())
	a, b, c, d, err := pickMembers(ctx, tx)
	if err != nil {
		return nil, err
	}
	firstFolder := func(m int64) int64 { return (m-1)*f + 1 }
	fa, fb := firstFolder(a), firstFolder(b)

	var aLinks []int64
	rows, err := tx.Query(ctx, `SELECT id FROM links WHERE member_id = $1 ORDER BY id LIMIT 2`, a)
	if err == nil {
		aLinks, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err == nil && len(aLinks) < 2 {
		err = fmt.Errorf("member %d has %d links", a, len(aLinks))
	}
	if err != nil {
		return nil, fmt.Errorf("bookmarkgen: inconsistent: links of member %d: %w", a, err)
	}
	firstLink := func(m int64) string {
		return fmt.Sprintf("(SELECT min(id) FROM links WHERE member_id = %d)", m)
	}

	canary := fmt.Sprintf("%s-member-%d-folder-%d", Canary, b, fb)
	steps := []struct {
		an  Anomaly
		sql string
	}{
		{Anomaly{AnomalyCanaryFolder, b, "folders", fb, "named " + canary},
			fmt.Sprintf(`UPDATE folders SET name = '%s' WHERE id = %d`, canary, fb)},
		{Anomaly{AnomalyCrossMemberLink, a, "links", aLinks[0], fmt.Sprintf("folder_id %d belongs to member %d", fb, b)},
			fmt.Sprintf(`UPDATE links SET folder_id = %d WHERE id = %d`, fb, aLinks[0])},
		{Anomaly{AnomalyCrossMemberParent, a, "folders", fa + 3, fmt.Sprintf("parent_id %d belongs to member %d", fb, b)},
			fmt.Sprintf(`UPDATE folders SET parent_id = %d WHERE id = %d`, fb, fa+3)},
		{Anomaly{AnomalyFolderCycle, a, "folders", fa, fmt.Sprintf("%d -> %d -> %d; link %d inside", fa, fa+1, fa, aLinks[1])},
			fmt.Sprintf(`UPDATE folders SET parent_id = CASE id WHEN %[1]d THEN %[2]d ELSE %[1]d END WHERE id IN (%[1]d, %[2]d);
				UPDATE links SET folder_id = %[1]d WHERE id = %[3]d`, fa, fa+1, aLinks[1])},
		{Anomaly{AnomalySelfParent, a, "folders", fa + 2, fmt.Sprintf("parent_id %d", fa+2)},
			fmt.Sprintf(`UPDATE folders SET parent_id = id WHERE id = %d`, fa+2)},
		{Anomaly{AnomalyFreeOptedIn, c, "members", c, fmt.Sprintf("plan free, weekly_backup true; link titled %s-free-member-%d", Canary, c)},
			fmt.Sprintf(`UPDATE members SET plan = 'free', weekly_backup = true, deleted_at = NULL WHERE id = %[1]d;
				UPDATE links SET title = '%[2]s-free-member-%[1]d' WHERE id = %[3]s`, c, Canary, firstLink(c))},
		{Anomaly{AnomalyDeletedOptedIn, d, "members", d, fmt.Sprintf("premium, weekly_backup, deleted; link titled %s-deleted-member-%d", Canary, d)},
			fmt.Sprintf(`UPDATE members SET plan = 'premium', weekly_backup = true,
				deleted_at = created_at + interval '1 day' WHERE id = %[1]d;
				UPDATE links SET title = '%[2]s-deleted-member-%[1]d' WHERE id = %[3]s`, d, Canary, firstLink(d))},
	}
	out := make([]Anomaly, 0, len(steps))
	for _, s := range steps {
		if _, err := tx.Exec(ctx, s.sql); err != nil {
			return nil, fmt.Errorf("bookmarkgen: inconsistent %s: %w", s.an.Kind, err)
		}
		out = append(out, s.an)
	}
	return out, nil
}

// pickMembers chooses the members the anomalies are planted on: a, a premium opted-in
// member with links (member 1, promoted, when there is none); b, another member whose
// folder a's rows point into; c and d, two more members that are not empty.
func pickMembers(ctx context.Context, tx pgx.Tx) (a, b, c, d int64, err error) {
	err = tx.QueryRow(ctx, `SELECT coalesce((SELECT m.id FROM members m
		WHERE m.plan = 'premium' AND m.weekly_backup AND m.deleted_at IS NULL
		  AND EXISTS (SELECT FROM links l WHERE l.member_id = m.id) ORDER BY m.id LIMIT 1), 0)`).Scan(&a)
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("bookmarkgen: inconsistent: pick member: %w", err)
	}
	if a == 0 {
		// No premium opted-in member with links (e.g. PremiumPercent 0): make member 1 one.
		a = 1
		if _, err := tx.Exec(ctx, `UPDATE members SET plan = 'premium', weekly_backup = true, deleted_at = NULL WHERE id = 1`); err != nil {
			return 0, 0, 0, 0, fmt.Errorf("bookmarkgen: inconsistent: promote member 1: %w", err)
		}
	}
	b = 1
	if a == 1 {
		b = 2
	}
	var cd []int64
	rows, err := tx.Query(ctx, `SELECT id FROM members WHERE id NOT IN ($1, $2) AND id % $3 <> 0
		ORDER BY id DESC LIMIT 2`, a, b, int64(emptyMemberEvery))
	if err == nil {
		cd, err = pgx.CollectRows(rows, pgx.RowTo[int64])
	}
	if err == nil && len(cd) < 2 {
		err = fmt.Errorf("only %d members left besides %d and %d", len(cd), a, b)
	}
	if err != nil {
		return 0, 0, 0, 0, fmt.Errorf("bookmarkgen: inconsistent: pick members: %w", err)
	}
	return a, b, cd[0], cd[1], nil
}
