package ingest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
	"github.com/enishi-crm/enishi/internal/store"
)

// Run processes the inbox until ctx ends, with cfg.Workers workers, and
// prunes old done rows now and then. A batch being processed when ctx
// ends is finished first. Several processes may run workers on one
// PostgreSQL database: claims skip rows another worker holds.
func (s *Service) Run(ctx context.Context) error {
	host, _ := os.Hostname()
	base := fmt.Sprintf("%s-%d-%s", host, os.Getpid(), auth.RandomToken(3))
	var wg sync.WaitGroup
	for i := 0; i < s.cfg.Workers; i++ {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			s.work(ctx, name)
		}(base + "-" + strconv.Itoa(i))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.pruneLoop(ctx)
	}()
	wg.Wait()
	return nil
}

func (s *Service) work(ctx context.Context, name string) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		n, err := s.ProcessOnce(ctx, name)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Error("ingest worker", "err", err)
		}
		if n > 0 && err == nil {
			continue
		}
		timer.Reset(s.cfg.Poll)
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

func (s *Service) pruneLoop(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := s.st.PruneInbox(ctx, s.clock.Now().Add(-s.cfg.Retention)); err != nil && ctx.Err() == nil {
			s.log.Error("prune ingest inbox", "err", err)
		} else if n > 0 {
			s.log.Info("pruned ingest inbox", "rows", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ProcessOnce claims one batch of inbox rows for worker and processes it,
// returning how many rows it handled (0 when the inbox had none ready).
// Rows are processed even if ctx ends meanwhile, so that a shutdown does
// not waste the work; a crash leaves them to be claimed again.
func (s *Service) ProcessOnce(ctx context.Context, worker string) (int, error) {
	items, err := s.st.ClaimInbox(ctx, worker, s.cfg.ClaimBatch, s.cfg.Lease)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	ctx = context.WithoutCancel(ctx)
	var seg []store.InboxItem
	var done []store.InboxItem
	for _, it := range items {
		if it.Kind == KindSegment || it.Kind == KindSegmentPublic {
			seg = append(seg, it)
			continue
		}
		if err := s.processOther(ctx, it); err != nil {
			s.fail(ctx, it, err)
		} else {
			done = append(done, it)
		}
	}
	if len(seg) > 0 {
		ok, err := s.processSegment(ctx, seg)
		if err != nil {
			return len(items), err
		}
		done = append(done, ok...)
	}
	return len(items), s.complete(ctx, done)
}

func (s *Service) complete(ctx context.Context, done []store.InboxItem) error {
	if len(done) == 0 {
		return nil
	}
	ids := make([]int64, len(done))
	for i, it := range done {
		ids[i] = it.ID
	}
	if err := s.st.CompleteInbox(ctx, ids); err != nil {
		return fmt.Errorf("mark inbox rows done: %w", err)
	}
	now := s.clock.Now()
	for _, it := range done {
		s.processed.Add(float64(max(it.Items, 1)), it.Kind)
	}
	s.lastLag.Set(now.Sub(done[len(done)-1].ReceivedAt).Seconds())
	return nil
}

// processSegment applies event API rows together (one transaction per
// kind of record for the whole batch); when that fails, row by row, so that
// one bad row fails alone. It returns the rows that succeeded.
func (s *Service) processSegment(ctx context.Context, rows []store.InboxItem) ([]store.InboxItem, error) {
	plans := make([]batchPlan, len(rows))
	var all batchPlan
	var good []store.InboxItem
	var goodPlans []batchPlan
	userSource, _, err := s.st.Setting(ctx, SettingUserIDSource)
	if err != nil {
		return nil, err
	}
	for i, it := range rows {
		src := segmentSource{name: it.Source, userSource: it.Source, trusted: it.Kind == KindSegment}
		if userSource != "" {
			src.userSource = userSource
		}
		msgs, err := ParseSegment(it.Topic, it.Body)
		if err != nil {
			s.fail(ctx, it, err)
			continue
		}
		src.plan(msgs, it.ReceivedAt, &plans[i])
		all.customers = append(all.customers, plans[i].customers...)
		all.events = append(all.events, plans[i].events...)
		all.orders = append(all.orders, plans[i].orders...)
		all.stitch = append(all.stitch, plans[i].stitch...)
		good = append(good, it)
		goodPlans = append(goodPlans, plans[i])
	}
	if len(good) == 0 {
		return nil, nil
	}
	err = s.apply(ctx, &all)
	if err == nil {
		return good, nil
	}
	if len(good) == 1 {
		s.fail(ctx, good[0], err)
		return nil, nil
	}
	var ok []store.InboxItem
	for i, it := range good {
		if err := s.apply(ctx, &goodPlans[i]); err != nil {
			s.fail(ctx, it, err)
			continue
		}
		ok = append(ok, it)
	}
	return ok, nil
}

// SettingUserIDSource names the setting that says which system's customer
// ids the event API's userId values are (e.g. "shopify", "eccube"), so that
// they match the customers imported from it. Unset, userId values belong
// to the write key's own source.
const SettingUserIDSource = "ingest.user_id_source"

// apply writes a plan: profiles first, then events and orders, then the
// stitching of anonymous events to the customers identified meanwhile.
// Each step is idempotent, so a plan applied twice stores nothing twice.
func (s *Service) apply(ctx context.Context, p *batchPlan) error {
	if len(p.customers) > 0 {
		if _, err := s.st.ImportCustomers(ctx, p.customers); err != nil {
			return fmt.Errorf("customers: %w", err)
		}
	}
	if len(p.events) > 0 {
		if _, err := s.st.ImportEvents(ctx, p.events); err != nil {
			return fmt.Errorf("events: %w", err)
		}
	}
	if len(p.orders) > 0 {
		if _, err := s.st.ImportOrders(ctx, p.orders); err != nil {
			return fmt.Errorf("orders: %w", err)
		}
	}
	if len(p.stitch) > 0 {
		if _, err := s.st.StitchAnonymous(ctx, p.stitch); err != nil {
			return err
		}
	}
	return nil
}

// retryDelay is the backoff before attempt n+1: 5 s doubling to at most an
// hour.
func retryDelay(attempts int) time.Duration {
	d := 5 * time.Second
	for i := 1; i < attempts && d < time.Hour; i++ {
		d *= 2
	}
	return min(d, time.Hour)
}

// permanent reports errors that another attempt cannot fix: the data
// itself is wrong.
func permanent(err error) bool {
	switch errs.Code(err) {
	case errs.Invalid, errs.NotFound, errs.Conflict, errs.Forbidden, errs.TooLarge:
		return true
	}
	return false
}

func (s *Service) fail(ctx context.Context, it store.InboxItem, err error) {
	dead := permanent(err) || it.Attempts >= s.cfg.MaxAttempts
	s.failed.Inc(it.Kind)
	msg := errs.Message(err)
	if errs.Code(err) == errs.Internal {
		msg = err.Error()
	}
	if dead {
		s.dead.Inc(it.Kind)
		s.log.Warn("ingest: request moved to the dead-letter list", "id", it.ID, "kind", it.Kind, "attempts", it.Attempts, "err", msg)
	} else {
		s.log.Warn("ingest: request failed, will retry", "id", it.ID, "kind", it.Kind, "attempts", it.Attempts, "err", msg)
	}
	if ferr := s.st.FailInbox(ctx, it.ID, msg, s.clock.Now().Add(retryDelay(it.Attempts)), dead); ferr != nil {
		s.log.Error("ingest: record failure", "id", it.ID, "err", errors.Join(err, ferr))
	}
}

// processOther handles one webhook row.
func (s *Service) processOther(ctx context.Context, it store.InboxItem) error {
	switch it.Kind {
	case KindShopify:
		return s.processShopify(ctx, it)
	case KindLine:
		return s.processLine(ctx, it)
	case KindGeneric:
		return s.processGeneric(ctx, it)
	}
	return errs.Errorf(errs.Invalid, "unknown inbox kind %q", it.Kind)
}
