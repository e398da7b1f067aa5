package identity

import "sort"

// Match is a stored identifier found for an incoming one.
type Match struct {
	CustomerID       int64 // the customer that holds the identifier now
	OriginCustomerID int64 // the profile it first came with (kept for unmerge)
}

// Policy says which kinds may merge two customers without a person approving.
type Policy struct {
	// ManualKinds lists kinds whose links wait for approval instead of merging.
	ManualKinds map[Kind]bool
}

// AutoMerges reports whether a link through kind k merges at once.
func (p Policy) AutoMerges(k Kind) bool { return !p.ManualKinds[k] }

// Merge asks the store to fold Loser into Winner because of Via.
type Merge struct {
	Winner, Loser int64
	Via           Identifier
}

// Candidate is a possible merge waiting for approval.
type Candidate struct {
	A, B int64
	Via  Identifier
}

// Plan is what to do with one incoming record.
type Plan struct {
	// Target is the customer the record belongs to; 0 means create one.
	Target int64
	// Origin is the profile the record's own rows are filed under, so that an
	// unmerge gives them back to the right person; 0 means the new customer.
	Origin int64
	// Attach lists identifiers to add to Target (those no customer holds yet).
	Attach []Identifier
	// Merges to carry out before writing the record, all into Target.
	Merges []Merge
	// Candidates to record for approval.
	Candidates []Candidate
}

// Decide plans how a record with identifiers ids is matched, given what the
// store found for each (matches[i] is nil when ids[i] is unknown).
//
// Rules: the oldest customer (smallest id) among those linked through strong
// identifiers of auto-merging kinds absorbs the others; links through
// manual kinds become candidates; weak identifiers find a customer only for
// records that carry no strong identifier at all, and never merge.
func Decide(ids []Identifier, matches []*Match, pol Policy) Plan {
	var plan Plan
	type link struct {
		id    Identifier
		m     Match
		order int
	}
	var strong, weak []link
	hasStrong := false
	for i, id := range ids {
		hasStrong = hasStrong || !id.Weak
		m := matches[i]
		if m == nil {
			continue
		}
		l := link{id: id, m: *m, order: i}
		if id.Weak {
			weak = append(weak, l)
		} else {
			strong = append(strong, l)
		}
	}
	sort.SliceStable(strong, func(i, j int) bool { return strong[i].id.priority() < strong[j].id.priority() })

	switch {
	case len(strong) > 0:
		anchor := strong[0]
		// Customers linked to the anchor, and whether any link auto-merges.
		auto := map[int64]Identifier{}
		manual := map[int64]Identifier{}
		for _, l := range strong[1:] {
			c := l.m.CustomerID
			if c == anchor.m.CustomerID {
				continue
			}
			if pol.AutoMerges(l.id.Kind) && pol.AutoMerges(anchor.id.Kind) {
				if _, ok := auto[c]; !ok {
					auto[c] = l.id
				}
			} else if _, ok := manual[c]; !ok {
				manual[c] = l.id
			}
		}
		winner := anchor.m.CustomerID
		for c := range auto {
			if c < winner {
				winner = c
			}
		}
		losers := make([]int64, 0, len(auto)+1)
		if winner != anchor.m.CustomerID {
			losers = append(losers, anchor.m.CustomerID)
		}
		for c := range auto {
			if c != winner {
				losers = append(losers, c)
			}
		}
		sort.Slice(losers, func(i, j int) bool { return losers[i] < losers[j] })
		for _, c := range losers {
			via, ok := auto[c]
			if !ok { // the anchor itself is folded into an older customer
				via = auto[winner]
			}
			plan.Merges = append(plan.Merges, Merge{Winner: winner, Loser: c, Via: via})
		}
		for c, via := range manual {
			if _, merged := auto[c]; !merged && c != winner {
				plan.Candidates = append(plan.Candidates, Candidate{A: winner, B: c, Via: via})
			}
		}
		sort.Slice(plan.Candidates, func(i, j int) bool { return plan.Candidates[i].B < plan.Candidates[j].B })
		plan.Target = winner
		plan.Origin = anchor.m.OriginCustomerID
	case len(weak) > 0 && !hasStrong:
		plan.Target = weak[0].m.CustomerID
		plan.Origin = weak[0].m.OriginCustomerID
	}

	seen := map[string]bool{}
	for i, id := range ids {
		if matches[i] != nil || seen[id.Key()] {
			continue
		}
		seen[id.Key()] = true
		plan.Attach = append(plan.Attach, id)
	}
	return plan
}
