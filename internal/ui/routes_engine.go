package ui

import (
	"net/http"

	"github.com/enishi-crm/enishi/internal/auth"
	"github.com/enishi-crm/enishi/internal/errs"
)

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
	u.routesCampaigns()
	u.routesTemplates()
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

func (u *UI) routesCampaigns() {
	u.page("GET /campaigns", auth.ReportsRead, u.campaigns)
	u.page("GET /campaigns/new", auth.CampaignsSend, u.newCampaign)
	u.page("POST /campaigns", auth.CampaignsSend, u.saveCampaign)
	u.page("GET /campaigns/{id}", auth.ReportsRead, u.campaignShow)
	u.page("POST /campaigns/{id}", auth.CampaignsSend, u.saveCampaign)
	u.page("POST /campaigns/{id}/schedule", auth.CampaignsSend, u.scheduleCampaign)
	u.page("POST /campaigns/{id}/test", auth.CampaignsSend, u.testCampaign)
	u.page("POST /campaigns/{id}/do/{verb}", auth.CampaignsSend, u.moveCampaign)
	// The preview shows a customer's personal data: pii:read as well,
	// checked in the handler's helper below.
	u.page("GET /campaigns/{id}/preview", auth.CampaignsSend, u.requirePII(u.campaignPreview))
}

// requirePII wraps a handler that shows a customer's personal data
// (a message rendered for them) so that it needs pii:read too.
func (u *UI) requirePII(h func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if !principal(r).Can(auth.PIIRead) {
			return errs.Errorf(errs.Forbidden, "a message rendered for a customer shows their personal data: pii:read is required")
		}
		return h(w, r)
	}
}

func (u *UI) routesTemplates() {
	u.page("GET /templates", auth.CampaignsSend, u.templatesList)
	u.page("GET /templates/new", auth.CampaignsSend, u.newTemplate)
	u.page("POST /templates", auth.CampaignsSend, u.saveTemplate)
	u.page("POST /templates/preview", auth.CampaignsSend, u.templatePreview)
	u.page("GET /templates/{id}", auth.CampaignsSend, u.editTemplate)
	u.page("POST /templates/{id}", auth.CampaignsSend, u.saveTemplate)
}
