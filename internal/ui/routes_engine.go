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

	u.routesJourneys()
}

func (u *UI) routesJourneys() {
	u.page("GET /journeys", auth.ReportsRead, u.journeys)
	u.page("GET /journeys/new", auth.JourneysWrite, u.journeyGallery)
	u.page("POST /journeys", auth.JourneysWrite, u.createJourney)
	u.page("GET /journeys/{id}", auth.ReportsRead, u.journeyShow)
	u.page("POST /journeys/{id}/status", auth.JourneysWrite, u.journeyStatus)
	u.page("POST /journeys/{id}/steps", auth.JourneysWrite, u.addJourneyStep)
	u.page("POST /journeys/{id}/steps/{step}", auth.JourneysWrite, u.editJourneyStep)
	u.page("POST /journeys/{id}/steps/{step}/delete", auth.JourneysWrite, u.deleteJourneyStep)
	u.page("POST /journeys/{id}/definition", auth.JourneysWrite, u.journeyDefinition)
}
