package segment

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/enishi-crm/enishi/internal/errs"
)

// Push targets.
const (
	TargetShopify = "shopify" // a customer tag in Shopify
	TargetLINE    = "line"    // a LINE audience (for LINE Ads and narrowcasts)
)

// ShopifyTagger adds and removes one customer tag in a Shopify store.
// The ingest capability's Shopify Admin API client implements it; ids are
// Shopify customer ids.
type ShopifyTagger interface {
	TagCustomers(ctx context.Context, tag string, add, remove []string) error
}

// LineAudience uploads LINE user ids to an audience of the shop's LINE
// Official Account. With audienceID empty it creates the audience named
// description and returns its id; otherwise it adds to that audience. The
// channels capability's LINE Messaging API client implements it.
type LineAudience interface {
	UploadAudience(ctx context.Context, audienceID, description string, userIDs []string) (string, error)
}

// PushState is what the last push of a segment to a target left behind,
// so that the next push only sends the difference.
type PushState struct {
	SegmentID int64    `json:"segment_id"`
	Target    string   `json:"target"`
	Ref       string   `json:"ref"` // the Shopify tag or the LINE audience id
	IDs       []string `json:"-"`   // the external ids pushed last time
}

// PushResult says what a push did.
type PushResult struct {
	Target  string `json:"target"`
	Ref     string `json:"ref"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
	// Unreachable counts members with no id on the target (never linked
	// to a Shopify customer or a LINE friend).
	Unreachable int `json:"unreachable"`
}

// Pusher pushes segment members to outside systems. A nil client means
// that target is not configured.
type Pusher struct {
	Shopify ShopifyTagger
	LINE    LineAudience
}

// Push sends members to target given the previous push's state and
// returns the new state. For Shopify, ref is the tag; customers tagged by
// the previous push who left the segment lose the tag. LINE audiences only
// grow, so a push adds the members not uploaded before.
func (p Pusher) Push(ctx context.Context, s *Segment, target, ref string, members []Member, prev PushState) (PushResult, PushState, error) {
	res := PushResult{Target: target}
	var current []string
	for _, m := range members {
		ids := m.ShopifyIDs
		if target == TargetLINE {
			ids = m.LineUserIDs
		}
		if len(ids) == 0 {
			res.Unreachable++
		}
		current = append(current, ids...)
	}
	current = uniq(current)
	add, remove := diff(prev.IDs, current)
	next := PushState{SegmentID: s.ID, Target: target, IDs: current}
	switch target {
	case TargetShopify:
		if p.Shopify == nil {
			return res, prev, errs.Errorf(errs.Unavailable, "Shopify is not connected; connect the store first (docs/segments.md)")
		}
		ref = strings.TrimSpace(ref)
		if ref == "" {
			ref = "enishi:" + s.Name
		}
		if len(ref) > 255 || strings.Contains(ref, ",") {
			return res, prev, errs.FieldErrorf("tag", "a Shopify tag has no comma and at most 255 characters")
		}
		if prev.Ref != "" && prev.Ref != ref {
			// A new tag: everyone gets it; the old tag is left alone.
			add, remove = current, nil
		}
		if err := p.Shopify.TagCustomers(ctx, ref, add, remove); err != nil {
			return res, prev, fmt.Errorf("push segment %d to Shopify: %w", s.ID, err)
		}
		res.Added, res.Removed = len(add), len(remove)
	case TargetLINE:
		if p.LINE == nil {
			return res, prev, errs.Errorf(errs.Unavailable, "LINE is not connected; connect the LINE Official Account first (docs/segments.md)")
		}
		audience := prev.Ref
		if ref != "" {
			audience = ref
		}
		if audience != prev.Ref {
			add = current
		}
		if audience == "" || len(add) > 0 {
			id, err := p.LINE.UploadAudience(ctx, audience, "enishi "+s.Name, add)
			if err != nil {
				return res, prev, fmt.Errorf("push segment %d to LINE: %w", s.ID, err)
			}
			audience = id
		}
		ref = audience
		res.Added = len(add)
		// An audience cannot shrink: keep every id ever uploaded.
		next.IDs = uniq(append(append([]string(nil), prev.IDs...), current...))
	default:
		return res, prev, errs.FieldErrorf("target", "%q is not a push target (shopify or line)", target)
	}
	res.Ref, next.Ref = ref, ref
	return res, next, nil
}

func uniq(ids []string) []string {
	sort.Strings(ids)
	out := ids[:0]
	for i, id := range ids {
		if i == 0 || id != ids[i-1] {
			out = append(out, id)
		}
	}
	return out
}

// diff returns what is in b and not in a, and what is in a and not in b.
func diff(a, b []string) (add, remove []string) {
	in := map[string]bool{}
	for _, x := range a {
		in[x] = true
	}
	now := map[string]bool{}
	for _, x := range b {
		now[x] = true
		if !in[x] {
			add = append(add, x)
		}
	}
	for _, x := range a {
		if !now[x] {
			remove = append(remove, x)
		}
	}
	return add, remove
}
