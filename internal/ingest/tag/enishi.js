/*! enishi.js — enishi's web tag. Served by enishi at /js/enishi.js; no build step.
 *
 * <script>window.enishi=window.enishi||function(){(enishi.q=enishi.q||[]).push(arguments)};</script>
 * <script async src="https://CRM-HOST/js/enishi.js" data-write-key="ek_…"></script>
 *
 * enishi('page')                              page view (sent by itself on load unless data-auto-page="false")
 * enishi('productViewed', {sku, name, price, category})
 * enishi('productAdded', {sku, name, price, quantity})   add to cart
 * enishi('productFavorited', {sku, name, price})         お気に入り
 * enishi('track', 'Event Name', {…})                     any other event
 * enishi('identify', 'member-123', {email, firstName, lastName, …})   on login
 * enishi('consent', true | false)             with data-require-consent="true", nothing is sent before consent(true)
 * enishi('reset')                             on logout: forget the user and start a new anonymous id
 *
 * The visitor's anonymous id lives in the first-party cookie enishi_aid. The
 * first touch (utm_source, utm_medium, utm_campaign and an outside referrer
 * of the first page view) is kept in localStorage and sent as
 * context.campaign / context.referrer, which enishi files as the customer's
 * first-touch acquisition once the visitor is identified. Browsers that send
 * Do Not Track or Global Privacy Control get nothing sent at all.
 */
(function (w, d) {
  'use strict';
  var VERSION = '1.0.0';
  var script = d.currentScript || (function () {
    var s = d.getElementsByTagName('script');
    for (var i = s.length - 1; i >= 0; i--) { if (/\/js\/enishi\.js/.test(s[i].src)) return s[i]; }
    return null;
  })();
  if (!script) return;
  var writeKey = script.getAttribute('data-write-key') || '';
  var host = script.getAttribute('data-host') || script.src.replace(/\/js\/enishi\.js.*$/, '');
  var requireConsent = script.getAttribute('data-require-consent') === 'true';
  var autoPage = script.getAttribute('data-auto-page') !== 'false';
  var AID = 'enishi_aid', CONSENT = 'enishi_consent', FT = 'enishi_ft', UID = 'enishi_uid';

  function dnt() {
    return w.doNotTrack === '1' || navigator.doNotTrack === '1' || navigator.doNotTrack === 'yes' ||
      navigator.msDoNotTrack === '1' || navigator.globalPrivacyControl === true;
  }
  function getCookie(name) {
    var m = d.cookie.match(new RegExp('(?:^|; )' + name + '=([^;]*)'));
    return m ? decodeURIComponent(m[1]) : '';
  }
  function setCookie(name, value, days) {
    var exp = new Date(Date.now() + days * 864e5).toUTCString();
    d.cookie = name + '=' + encodeURIComponent(value) + '; expires=' + exp + '; path=/; SameSite=Lax' +
      (location.protocol === 'https:' ? '; Secure' : '');
  }
  function store(k, v) {
    try { if (v === undefined) return w.localStorage.getItem(k); if (v === null) w.localStorage.removeItem(k); else w.localStorage.setItem(k, v); } catch (e) { return null; }
    return null;
  }
  function uuid() {
    if (w.crypto && w.crypto.randomUUID) return w.crypto.randomUUID();
    var b = new Uint8Array(16);
    (w.crypto || w.msCrypto).getRandomValues(b);
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var h = '';
    for (var i = 0; i < 16; i++) { h += (b[i] + 256).toString(16).slice(1); if (i === 3 || i === 5 || i === 7 || i === 9) h += '-'; }
    return h;
  }
  function consented() { return !requireConsent || getCookie(CONSENT) === '1'; }
  function allowed() { return writeKey && !dnt() && consented(); }
  function anonymousId() {
    var id = getCookie(AID);
    if (!id) { id = uuid(); }
    setCookie(AID, id, 365); // renewed on every visit
    return id;
  }
  // firstTouch remembers the first page view's campaign and outside referrer.
  function firstTouch() {
    var saved = store(FT);
    if (saved) { try { return JSON.parse(saved); } catch (e) { /* start again */ } }
    var q = new URLSearchParams(location.search), ref = d.referrer, ft = {};
    if (q.get('utm_source')) ft.source = q.get('utm_source');
    if (q.get('utm_medium')) ft.medium = q.get('utm_medium');
    if (q.get('utm_campaign')) ft.name = q.get('utm_campaign');
    if (ref) { try { if (new URL(ref).host !== location.host) ft.referrer = ref; } catch (e) { /* not a URL */ } }
    store(FT, JSON.stringify(ft));
    return ft;
  }
  function context() {
    var ft = firstTouch(), c = {
      library: { name: 'enishi.js', version: VERSION },
      page: { url: location.href, path: location.pathname, search: location.search, title: d.title, referrer: d.referrer },
      userAgent: navigator.userAgent, locale: navigator.language
    };
    var camp = {};
    if (ft.source) camp.source = ft.source;
    if (ft.medium) camp.medium = ft.medium;
    if (ft.name) camp.name = ft.name;
    if (camp.source || camp.medium || camp.name) c.campaign = camp;
    if (ft.referrer) c.referrer = { url: ft.referrer };
    return c;
  }
  function send(msg) {
    if (!allowed()) return false;
    msg.anonymousId = anonymousId();
    var uid = store(UID);
    if (uid && !msg.userId) msg.userId = uid;
    msg.messageId = 'enishi-' + uuid();
    msg.timestamp = new Date().toISOString();
    msg.context = context();
    msg.sentAt = new Date().toISOString();
    var body = JSON.stringify(msg);
    try {
      w.fetch(host + '/v1/' + msg.type, {
        method: 'POST', keepalive: body.length < 60000, mode: 'cors', credentials: 'omit',
        headers: { 'Content-Type': 'application/json', 'Authorization': 'Basic ' + btoa(writeKey + ':') },
        body: body
      }).catch(function () { /* the shop's page must never break */ });
    } catch (e) { return false; }
    return true;
  }
  function product(p) {
    p = p || {};
    var out = {};
    for (var k in p) { if (Object.prototype.hasOwnProperty.call(p, k)) out[k] = p[k]; }
    if (out.quantity === undefined) out.quantity = 1;
    return out;
  }
  var api = {
    page: function (name, props) {
      props = props || {};
      props.url = location.href; props.path = location.pathname; props.title = d.title; props.referrer = d.referrer; props.search = location.search;
      return send({ type: 'page', name: name || undefined, properties: props });
    },
    track: function (event, props) { return send({ type: 'track', event: event, properties: props || {} }); },
    productViewed: function (p) { return api.track('Product Viewed', product(p)); },
    productAdded: function (p) { return api.track('Product Added', product(p)); },
    productRemoved: function (p) { return api.track('Product Removed', product(p)); },
    productFavorited: function (p) { return api.track('Product Added to Wishlist', product(p)); },
    identify: function (userId, traits) {
      if (userId) store(UID, String(userId));
      return send({ type: 'identify', userId: userId ? String(userId) : undefined, traits: traits || {} });
    },
    consent: function (granted) {
      if (granted) { setCookie(CONSENT, '1', 365); return true; }
      setCookie(CONSENT, '0', 365);
      d.cookie = AID + '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
      store(FT, null); store(UID, null);
      return false;
    },
    reset: function () {
      store(UID, null);
      d.cookie = AID + '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
    }
  };
  var queued = (w.enishi && w.enishi.q) || [];
  var fn = function (method) {
    var f = api[method];
    if (!f) return false;
    return f.apply(null, Array.prototype.slice.call(arguments, 1));
  };
  fn.version = VERSION;
  w.enishi = fn;
  var hadPage = false;
  for (var i = 0; i < queued.length; i++) { if (queued[i][0] === 'page') hadPage = true; fn.apply(null, queued[i]); }
  if (autoPage && !hadPage) api.page();
})(window, document);
