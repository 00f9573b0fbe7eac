// The ops dashboard: the live channel table (GET /channels), transfers per second from the metrics
// (GET /metrics) and the event feed (ws /events). No build step: plain browser JavaScript.
const WINDOW_SECONDS = 300;
const POLL_MS = 1000;
const FEED_LINES = 200;

let token = sessionStorage.getItem('aesc-ops-token') ?? '';
const samples = []; // [seconds, transfers total]
const $ = (id) => document.getElementById(id);

async function get(path) {
  const res = await fetch(path, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  if (res.status === 401) {
    $('token-form').hidden = false;
    throw new Error('unauthorized');
  }
  return res;
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = $('token').value;
  sessionStorage.setItem('aesc-ops-token', token);
  $('token-form').hidden = true;
  connectFeed();
});

const cell = (text) => {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
};
const sideText = (side) => (side ? `${side.state}${side.connected ? ' · connected' : ''}` : '-');

async function refreshChannels() {
  const page = await (await get('/channels?limit=1000')).json();
  $('channel-count').textContent = String(page.total);
  const rows = page.channels.map((ch) => {
    const tr = document.createElement('tr');
    tr.dataset.channelId = ch.channel_id;
    tr.append(cell(ch.channel_id), cell(String(ch.round ?? '-')), cell(ch.balances?.initiator ?? '-'), cell(ch.balances?.responder ?? '-'),
      cell(sideText(ch.initiator)), cell(sideText(ch.responder)), cell(ch.last_activity));
    return tr;
  });
  $('channels').tBodies[0].replaceChildren(...rows);
}

function transfersTotal(text) {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('aesc_offchain_updates_total{') && line.includes('kind="transfer"') && line.includes('outcome="ok"')) {
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return total;
}

async function refreshRate() {
  const total = transfersTotal(await (await get('/metrics')).text());
  const now = Date.now() / 1000;
  samples.push([now, total]);
  while (samples.length && samples[0][0] < now - WINDOW_SECONDS) samples.shift();
  const rates = [];
  for (let i = 1; i < samples.length; i++) {
    const [t0, v0] = samples[i - 1];
    const [t1, v1] = samples[i];
    rates.push([t1, Math.max(0, (v1 - v0) / (t1 - t0))]);
  }
  $('tps').textContent = rates.length ? rates[rates.length - 1][1].toFixed(1) : '0';
  $('transfers-total').textContent = String(total);
  draw(rates, now);
}

function draw(rates, now) {
  const canvas = $('chart');
  canvas.dataset.total = $('transfers-total').textContent;
  canvas.dataset.points = String(rates.length);
  canvas.dataset.peak = String(Math.max(0, ...rates.map(([, r]) => r)));
  const ctx = canvas.getContext('2d');
  const { width, height } = canvas;
  ctx.clearRect(0, 0, width, height);
  const peak = Math.max(1, ...rates.map(([, r]) => r));
  ctx.fillStyle = '#888';
  ctx.font = '11px sans-serif';
  ctx.fillText(`${peak.toFixed(1)}/s`, 4, 12);
  ctx.strokeStyle = '#1f6fd1';
  ctx.lineWidth = 2;
  ctx.beginPath();
  rates.forEach(([t, r], i) => {
    const x = width - ((now - t) / WINDOW_SECONDS) * width;
    const y = height - 4 - (r / peak) * (height - 20);
    if (i === 0) ctx.moveTo(x, y);
    else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

async function refreshReady() {
  const res = await fetch('/ready');
  const body = await res.json();
  $('ready').textContent = body.ready ? 'ready' : `not ready: ${body.store.reason ?? body.chain.reason}`;
  $('ready').className = `badge ${body.ready ? 'ok' : 'bad'}`;
}

let feed = null;
function connectFeed() {
  if (feed) {
    feed.onclose = null;
    feed.close();
  }
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/events`;
  feed = token ? new WebSocket(url, [`bearer.${token}`]) : new WebSocket(url);
  feed.onopen = () => { $('feed-state').textContent = 'live'; };
  feed.onclose = () => {
    $('feed-state').textContent = 'disconnected, retrying…';
    setTimeout(connectFeed, 2000);
  };
  feed.onmessage = (message) => {
    const event = JSON.parse(message.data);
    const li = document.createElement('li');
    li.dataset.type = event.type;
    const { time, type, ...rest } = event;
    li.textContent = `${time.slice(11, 23)} ${type} ${JSON.stringify(rest)}`;
    const list = $('feed');
    list.prepend(li);
    while (list.children.length > FEED_LINES) list.lastElementChild.remove();
  };
}

async function tick() {
  await Promise.all([refreshChannels(), refreshRate(), refreshReady()]).catch(() => undefined);
  setTimeout(tick, POLL_MS);
}

$('window-minutes').textContent = String(WINDOW_SECONDS / 60);
connectFeed();
void tick();
