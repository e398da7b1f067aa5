// Sends a few calls with the stock libraries to ENISHI_URL using WRITE_KEY,
// then flushes and exits (internal/http/compat_test.go checks what arrived).
const { Analytics } = require('@segment/analytics-node')
const RudderAnalytics = require('@rudderstack/rudder-sdk-node')

async function main() {
  const url = process.env.ENISHI_URL, key = process.env.WRITE_KEY
  const seg = new Analytics({ writeKey: key, host: url, path: '/v1/batch', flushAt: 3, maxRetries: 1 })
  seg.identify({ userId: 'seg-1', anonymousId: 'seg-anon', traits: { email: 'seg1@example.com', firstName: '一郎' } })
  seg.track({ userId: 'seg-1', event: 'Order Completed', properties: { order_id: 'SEG-100', total: 3300, currency: 'JPY',
    products: [{ sku: 'TEA-01', name: '煎茶', price: 1100, quantity: 3 }] } })
  seg.page({ anonymousId: 'seg-anon', name: 'Home', properties: { url: 'https://shop.example/' } })
  await seg.closeAndFlush({ timeout: 10000 })

  const rud = new RudderAnalytics(key, { dataPlaneUrl: url, flushAt: 2, retryCount: 0 })
  rud.identify({ userId: 'rud-1', traits: { email: 'rud1@example.com' } })
  rud.track({ userId: 'rud-1', anonymousId: 'rud-anon', event: 'Product Added', properties: { sku: 'TEA-02', price: 2400, quantity: 1 } })
  await new Promise((resolve, reject) => rud.flush((err) => (err ? reject(err) : resolve())))
}

main().then(() => process.exit(0), (err) => { console.error(err); process.exit(1) })
