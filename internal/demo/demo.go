// Package demo generates a realistic Japanese shop's data — customers with
// names and addresses, a catalogue, three years of orders across the own EC,
// 楽天, Amazon and stores, consents and behaviour events — and writes it
// through the same import path real data takes, so identity resolution
// (名寄せ) merges the people who buy on several channels.
//
// Purchases follow a repeat-buying process (BG/NBD-like): each person buys at
// their own rate while alive and may lapse after every purchase, so most buy
// once and a few buy often; replenishers re-buy consumables near the
// product's cycle. Members also subscribe to 定期便, write reviews, ask
// questions and answer a satisfaction survey (voice.go).
package demo

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/enishi-crm/enishi/internal/customer"
	"github.com/enishi-crm/enishi/internal/event"
	"github.com/enishi-crm/enishi/internal/order"
	"github.com/enishi-crm/enishi/internal/product"
	"github.com/enishi-crm/enishi/internal/store"
	"github.com/enishi-crm/enishi/internal/subscription/book"
)

// Options shape the generated data.
type Options struct {
	Customers int                   // people to generate (default 2000)
	Seed      int64                 // same seed ⇒ same data
	Now       time.Time             // end of the history (default: the current time); history spans ~3 years before it
	Progress  func(done, total int) // optional; called after each group of people is written
}

// Result counts what was written. On an empty store its first five
// fields equal store.Stats.
type Result struct {
	Customers int // people after identity resolution merged them
	Orders    int
	LineItems int
	Products  int
	Events    int

	Subscriptions   int
	Reviews         int
	SurveyResponses int
	Inquiries       int
}

// Sink receives the records; store.Store satisfies it.
type Sink interface {
	ImportCustomers(ctx context.Context, recs []customer.Record) (store.BatchResult, error)
	ImportOrders(ctx context.Context, orders []order.Order) (store.BatchResult, error)
	ImportProducts(ctx context.Context, ps []product.Product) (store.BatchResult, error)
	ImportEvents(ctx context.Context, evs []event.Event) (store.BatchResult, error)
	VoiceSink
}

const (
	// DefaultCustomers is the number of people generated when Options says none.
	DefaultCustomers = 2000
	// batchSize is the most records per Sink call.
	batchSize = 1000
	// groupSize is how many people are generated, and written, at a time:
	// memory stays bounded whatever the number of customers.
	groupSize = 1000
	history   = 3 * 365 * 24 * time.Hour
)

// generator holds what is shared across people: the data, the clock range
// and the sequences that keep identifiers unique.
type generator struct {
	seed       int64
	now, start time.Time
	data       *dataset
	items      map[string]*item
	weightBuf  []float64
	emails     map[string]struct{}
	phoneA     uint64
	phoneB     uint64
	msgPrefix  string
	seq        struct {
		shopifyCustomer, shopifyOrder, rakutenMember, rakutenOrder, amazonOrder, posCard, posReceipt, event int
	}
}

func newGenerator(opt Options) (*generator, error) {
	d, err := loadData()
	if err != nil {
		return nil, err
	}
	now := opt.Now.UTC().Truncate(time.Second)
	g := &generator{seed: opt.Seed, now: now, start: now.Add(-history), data: d,
		items: map[string]*item{}, weightBuf: make([]float64, len(catalogue)), emails: map[string]struct{}{}}
	for i := range catalogue {
		g.items[catalogue[i].SKU] = &catalogue[i]
	}
	r := newRand(opt.Seed, 0)
	// An odd multiplier not divisible by 5 is invertible modulo 10^8, so
	// index → subscriber number is one-to-one.
	g.phoneA = uint64(r.IntN(40000000))*10 + []uint64{1, 3, 7, 9}[r.IntN(4)]
	g.phoneB = uint64(r.IntN(100000000))
	g.msgPrefix = fmt.Sprintf("%s-%s-4%s-a%s", hexID(r, 8), hexID(r, 4), hexID(r, 3), hexID(r, 3))
	return g, nil
}

// group is everything a group of people produces, in the order it is written.
type group struct {
	masters []customer.Record
	orders  []order.Order
	early   []event.Event // LINE events from before the member linked
	later   []customer.Record
	events  []event.Event
	voice   voice
	people  int
}

// people generates people [lo, hi).
func (g *generator) people(lo, hi int) *group {
	gr := &group{people: hi - lo}
	gr.voice.book = book.New(book.Options{Source: SourceShopify, End: g.now, FirstOrderFree: true, IDPrefix: "TK"})
	for i := lo; i < hi; i++ {
		p := g.newPerson(i)
		g.history(p)
		g.accounts(p)
		g.fileOrders(p)
		gr.masters = append(gr.masters, g.masters(p)...)
		for _, o := range p.orders {
			gr.orders = append(gr.orders, *o)
		}
		early, evs := g.events(p)
		gr.early = append(gr.early, early...)
		gr.events = append(gr.events, evs...)
		gr.later = append(gr.later, g.laterRecords(p)...)
		g.voice(p, &gr.voice)
	}
	// Each kind is written in time order, as a live shop's records arrive:
	// a member with no phone on file who then buys on 楽天 (which reports
	// the phone) gets a second customer, merged by their next own-EC order,
	// which carries both the e-mail and the phone.
	sort.SliceStable(gr.masters, func(i, j int) bool { return gr.masters[i].SeenAt.Before(gr.masters[j].SeenAt) })
	sort.SliceStable(gr.orders, func(i, j int) bool { return gr.orders[i].OrderedAt.Before(gr.orders[j].OrderedAt) })
	sort.SliceStable(gr.early, func(i, j int) bool { return gr.early[i].OccurredAt.Before(gr.early[j].OccurredAt) })
	sort.SliceStable(gr.events, func(i, j int) bool { return gr.events[i].OccurredAt.Before(gr.events[j].OccurredAt) })
	sort.SliceStable(gr.later, func(i, j int) bool { return gr.later[i].SeenAt.Before(gr.later[j].SeenAt) })
	return gr
}

// Generate writes opt.Customers people's data through sink: the catalogue,
// then, a group of people at a time, their customer-master records, orders,
// LINE events from before linking, later account changes (LINE linking,
// unsubscribes) and the other behaviour events. The same options always
// produce the same data. It stops at the first error or when ctx ends.
// Memory holds one group of people's records at a time, plus one e-mail
// address per person (to keep them unique).
func Generate(ctx context.Context, sink Sink, opt Options) (Result, error) {
	if opt.Customers < 0 {
		return Result{}, fmt.Errorf("demo: customers must not be negative (got %d)", opt.Customers)
	}
	if opt.Customers == 0 {
		opt.Customers = DefaultCustomers
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	g, err := newGenerator(opt)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var sum store.BatchResult
	ps := Products()
	if _, err := sink.ImportProducts(ctx, ps); err != nil {
		return res, fmt.Errorf("demo: write products: %w", err)
	}
	res.Products = len(ps)
	sv, err := sink.CreateSurvey(ctx, demoSurvey())
	if err != nil {
		return res, fmt.Errorf("demo: create survey: %w", err)
	}

	// People are generated one group ahead while the previous group is
	// written; generation stays sequential, so the data stays the same.
	ctx, cancel := context.WithCancel(ctx)
	groups := make(chan *group, 1)
	var wg sync.WaitGroup
	// Cancel first, so a producer blocked on a send gives up, then wait.
	defer func() { cancel(); wg.Wait() }()
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(groups)
		for lo := 0; lo < opt.Customers; lo += groupSize {
			select {
			case groups <- g.people(lo, min(lo+groupSize, opt.Customers)):
			case <-ctx.Done():
				return
			}
		}
	}()

	done := 0
	for gr := range groups {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for _, step := range []func() error{
			func() error { return writeAll(ctx, "customers", gr.masters, sink.ImportCustomers, &sum) },
			func() error { return writeAll(ctx, "orders", gr.orders, sink.ImportOrders, &sum) },
			func() error { return writeAll(ctx, "events", gr.early, sink.ImportEvents, &sum) },
			func() error { return writeAll(ctx, "customers", gr.later, sink.ImportCustomers, &sum) },
			func() error { return writeAll(ctx, "events", gr.events, sink.ImportEvents, &sum) },
		} {
			if err := step(); err != nil {
				return res, err
			}
		}
		vc, err := writeVoice(ctx, sink, &gr.voice, sv.ID)
		if err != nil {
			return res, err
		}
		res.Orders += len(gr.orders) + vc.deliveries
		res.LineItems += vc.deliveries
		for _, o := range gr.orders {
			res.LineItems += len(o.Lines)
		}
		res.Events += len(gr.early) + len(gr.events) + vc.events
		res.Subscriptions += vc.subscriptions
		res.Reviews += vc.reviews
		res.SurveyResponses += vc.responses
		res.Inquiries += vc.inquiries
		res.Customers = sum.NewCustomers - sum.Merges
		done += gr.people
		if opt.Progress != nil {
			opt.Progress(done, opt.Customers)
		}
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// writeAll sends recs to write in batches, adding up the results.
func writeAll[T any](ctx context.Context, what string, recs []T, write func(context.Context, []T) (store.BatchResult, error), sum *store.BatchResult) error {
	for lo := 0; lo < len(recs); lo += batchSize {
		hi := min(lo+batchSize, len(recs))
		r, err := write(ctx, recs[lo:hi])
		if err != nil {
			return fmt.Errorf("demo: write %s: %w", what, err)
		}
		sum.Add(r)
	}
	return nil
}
