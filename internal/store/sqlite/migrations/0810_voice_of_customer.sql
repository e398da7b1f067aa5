-- Voice of the customer (issue 12): inquiries get tags, staff replies and a
-- closing time; surveys (アンケート) with invitations, responses and
-- answers; product reviews (レビュー). Tags, replies and answers carry
-- their customer too, so that merges move them and erasure reaches them.

ALTER TABLE inquiries ADD COLUMN closed_at INTEGER;
CREATE INDEX inquiries_status ON inquiries (status, updated_at);

CREATE TABLE inquiry_tags (
    inquiry_id INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    tag        TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (inquiry_id, tag)
) WITHOUT ROWID;
CREATE INDEX inquiry_tags_tag ON inquiry_tags (tag);
CREATE INDEX inquiry_tags_customer ON inquiry_tags (customer_id);

CREATE TABLE inquiry_replies (
    id         INTEGER PRIMARY KEY,
    inquiry_id INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    author     TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    channel    TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX inquiry_replies_inquiry ON inquiry_replies (inquiry_id, created_at);
CREATE INDEX inquiry_replies_customer ON inquiry_replies (customer_id);

-- questions is the survey's JSON definition (internal/survey);
-- public_key names the survey in public URLs (on-site display).
CREATE TABLE surveys (
    id              INTEGER PRIMARY KEY,
    title           TEXT    NOT NULL,
    description     TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL DEFAULT 'draft',
    questions       TEXT    NOT NULL,
    thank_you       TEXT    NOT NULL DEFAULT '',
    allow_anonymous INTEGER NOT NULL DEFAULT 0,
    public_key      TEXT    NOT NULL UNIQUE,
    closes_at       INTEGER,
    created_by      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

-- Customers a survey was sent to or shown to: the response rate's base.
CREATE TABLE survey_invitations (
    survey_id          INTEGER NOT NULL,
    customer_id        INTEGER NOT NULL,
    origin_customer_id INTEGER NOT NULL,
    channel            TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (survey_id, origin_customer_id)
);
CREATE INDEX survey_invitations_customer ON survey_invitations (customer_id);

-- One response per respondent and survey (answering again replaces it):
-- respondent is "c:<customer id the link named>" or "a:<anonymous id>".
CREATE TABLE survey_responses (
    id                 INTEGER PRIMARY KEY,
    survey_id          INTEGER NOT NULL,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    respondent         TEXT    NOT NULL,
    channel            TEXT    NOT NULL DEFAULT '',
    submitted_at       INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (survey_id, respondent)
);
CREATE INDEX survey_responses_customer ON survey_responses (customer_id, submitted_at) WHERE customer_id IS NOT NULL;

-- One row per answered question, per chosen option for multiple choice.
CREATE TABLE survey_answers (
    response_id INTEGER NOT NULL,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    survey_id   INTEGER NOT NULL,
    question_id TEXT    NOT NULL,
    qtype       TEXT    NOT NULL,
    choice      TEXT    NOT NULL DEFAULT '',
    number      INTEGER,
    text        TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (response_id, question_id, choice)
) WITHOUT ROWID;
CREATE INDEX survey_answers_question ON survey_answers (survey_id, question_id, choice);
CREATE INDEX survey_answers_type ON survey_answers (qtype, response_id);
CREATE INDEX survey_answers_customer ON survey_answers (customer_id, survey_id, question_id) WHERE customer_id IS NOT NULL;

CREATE TABLE reviews (
    id                 INTEGER PRIMARY KEY,
    source             TEXT    NOT NULL,
    external_id        TEXT    NOT NULL,
    customer_id        INTEGER,
    origin_customer_id INTEGER,
    sku                TEXT    NOT NULL DEFAULT '',
    product_name       TEXT    NOT NULL DEFAULT '',
    rating             INTEGER NOT NULL,
    title              TEXT    NOT NULL DEFAULT '',
    body               TEXT    NOT NULL DEFAULT '',
    reviewer_name      TEXT    NOT NULL DEFAULT '',
    reviewed_at        INTEGER NOT NULL,
    content_hash       INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    UNIQUE (source, external_id)
);
CREATE INDEX reviews_customer ON reviews (customer_id, reviewed_at) WHERE customer_id IS NOT NULL;
CREATE INDEX reviews_sku ON reviews (sku, reviewed_at);
