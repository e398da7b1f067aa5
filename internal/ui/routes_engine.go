package ui

import "github.com/enishi-crm/enishi/internal/auth"

// routesEngine registers the pages of segments, journeys, campaigns and
// message templates: what acts on the data. The permissions follow the
// JSON API's (internal/http segments.go, journeys.go, campaigns.go,
// channels.go): reading needs what reading there needs, changing what
// changing there needs.
func (u *UI) routesEngine() {
	u.page("GET /segments", auth.CustomersRead, u.segments)
	u.page("GET /segments/new", auth.SegmentsWrite, u.newSegment)
	u.page("POST /segments", auth.SegmentsWrite, u.saveSegment)
	u.page("POST /segments/count", auth.SegmentsWrite, u.segmentCount)
	u.page("POST /segments/rfm", auth.SegmentsWrite, u.segmentFromRFM)
	u.page("GET /segments/{id}", auth.CustomersRead, u.segmentShow)
	u.page("GET /segments/{id}/edit", auth.SegmentsWrite, u.editSegment)
	u.page("POST /segments/{id}", auth.SegmentsWrite, u.saveSegment)
	u.page("POST /segments/{id}/delete", auth.SegmentsWrite, u.deleteSegment)
}
