//! The Node.js peer of Njia's load benchmark (`cargo bench --bench load`): the e-Citizen
//! land-rates path (language, home, parcel, lookup, confirm) on ussd-builder, the Africa's
//! Talking-style menu framework from npm, served by Node's own `http` module.
//!
//! Run: `node server.js 127.0.0.1:8385`. POST /ussd/africastalking takes the Africa's Talking
//! form (sessionId, phoneNumber, serviceCode, cumulative text) and answers `CON …`/`END …`;
//! GET /healthz answers `ok`.
//!
//! It is built to behave as Njia does on this path, with the framework's own means: the
//! cumulative text is parsed by ussd-builder (it replays the route from the start state on
//! every hop, which is how the framework works), session values live in its session store
//! (`sessionConfig`, here an in-memory Map with an idle expiry, as in its README), the
//! language is asked once per phone number and remembered (in memory: the peer has no
//! database, where Njia writes it to SQLite), the parcel is upper-cased and validated with the
//! same pattern and answered from `menus/lookups/lands.toml` in-process, a lookup miss or an
//! invalid parcel shows the reason above the prompt, and the screens are Njia's texts. Plain
//! `http` rather than Express: the leanest Node server, so the comparison flatters the peer
//! rather than Njia.

'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const querystring = require('querystring');
const UssdMenu = require('ussd-builder');

const [host, port] = (process.argv[2] || '127.0.0.1:8385').split(':');
const LOOKUPS = process.env.NJIA_LOOKUPS || path.join(__dirname, '..', '..', '..', 'menus', 'lookups');

// Njia's texts for this path (locales/*/ecitizen.ftl and njia.ftl).
const TEXT = {
  en: {
    home: 'Welcome to e-Citizen',
    options: ['Pay land rates', 'Renew driving licence', 'Check KRA PIN', 'Application status', 'Government agencies', 'Change language'],
    enterParcel: 'Enter the land parcel number (e.g. KAJIADO/1234):',
    invalid: 'That parcel number is not valid.',
    unknown: 'That parcel was not found.',
    confirm: (p, o, a) => `${p}, ${o}\nRates due: KES ${a}`,
    pay: 'Pay with M-Pesa',
    cancel: 'Cancel',
    back: 'Back',
    homeNav: 'Home',
    cancelled: 'Cancelled. Thank you for using e-Citizen.',
    invalidChoice: 'Invalid choice.',
    submitted: (r, a) => `Request ${r} received. You will get an M-Pesa prompt for KES ${a}. Enter your M-Pesa PIN to pay.`,
    elsewhere: 'This peer serves only the land-rates path.',
  },
  sw: {
    home: 'Karibu e-Citizen',
    options: ['Lipa ushuru wa ardhi', 'Huisha leseni ya udereva', 'Angalia PIN ya KRA', 'Hali ya ombi', 'Mashirika ya serikali', 'Badilisha lugha'],
    enterParcel: 'Weka nambari ya kipande cha ardhi (mfano KAJIADO/1234):',
    invalid: 'Nambari ya kipande si sahihi.',
    unknown: 'Kipande hicho hakijapatikana.',
    confirm: (p, o, a) => `${p}, ${o}\nUshuru: KES ${a}`,
    pay: 'Lipa kwa M-Pesa',
    cancel: 'Ghairi',
    back: 'Rudi',
    homeNav: 'Mwanzo',
    cancelled: 'Umeghairi. Asante kwa kutumia e-Citizen.',
    invalidChoice: 'Chaguo si sahihi.',
    submitted: (r, a) => `Ombi ${r} limepokelewa. Utapokea ujumbe wa M-Pesa kwenye simu yako: weka PIN yako ya M-Pesa kulipa KES ${a}.`,
    elsewhere: 'Huduma hii ina ushuru wa ardhi pekee.',
  },
};
const LANGUAGE_SCREEN = 'Chagua lugha / Choose language\n1. Kiswahili\n2. English';
const PARCEL = /^[A-Z][A-Z0-9]*(\/[A-Z0-9]+){1,3}$/;
const IDLE_MS = 180000;

// The lands backend's demo data, read once: `[rates_due."PARCEL"]` tables of owner and amount.
function loadRates(file) {
  const rates = new Map();
  let current = null;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const table = line.match(/^\[rates_due\."(.+)"\]/);
    const kv = line.match(/^(\w+)\s*=\s*"(.*)"/);
    if (table) {
      current = {};
      rates.set(table[1], current);
    } else if (kv && current) {
      current[kv[1]] = kv[2];
    }
  }
  return rates;
}
const RATES = loadRates(path.join(LOOKUPS, 'lands.toml'));

// Languages remembered per phone number, and live sessions (ussd-builder's session store).
const languages = new Map();
const sessions = new Map();
setInterval(() => {
  const now = Date.now();
  for (const [id, s] of sessions) if (now - s.touched > IDLE_MS) sessions.delete(id);
}, 8000).unref();

const menu = new UssdMenu({ provider: 'africasTalking' });
menu.sessionConfig({
  start: (id, cb) => {
    let s = sessions.get(id);
    if (!s) {
      const lang = languages.get(menu.args.phoneNumber);
      // `ask` is decided once per session, so the route replays the same way on every hop.
      s = { ask: !lang, lang: lang || 'sw', touched: 0, vars: {} };
      sessions.set(id, s);
    }
    s.touched = Date.now();
    cb();
  },
  end: (id, cb) => {
    sessions.delete(id);
    cb();
  },
  set: (id, key, value, cb) => {
    sessions.get(id).vars[key] = value;
    cb();
  },
  get: (id, key, cb) => cb(null, sessions.get(id).vars[key]),
});

const session = () => sessions.get(menu.args.sessionId);
const t = () => TEXT[session().lang];
const numbered = (labels, from = 1) => labels.map((l, i) => `${from + i}. ${l}`).join('\n');
const homeScreen = (error) => (error ? `${t().invalidChoice}\n` : '') + `${t().home}\n${numbered(t().options)}`;
const parcelScreen = (error) => (error ? `${error}\n` : '') + t().enterParcel;
const HOME_NEXT = { 1: 'land.parcel', 2: 'elsewhere', 3: 'elsewhere', 4: 'elsewhere', 5: 'elsewhere', 6: '__start__' };

// The parcel input: normalised and validated, then looked up (in-process, like Njia's data
// files); each outcome is its own state because ussd-builder replays the route every hop.
const parcelNext = {
  '*^.+$': () => {
    const parcel = menu.val.trim().toUpperCase();
    if (parcel.length > 24 || !PARCEL.test(parcel)) return 'land.invalid';
    return RATES.has(parcel) ? 'land.confirm' : 'land.unknown';
  },
};

menu.startState({
  run: () => menu.con(session().ask ? LANGUAGE_SCREEN : homeScreen(false)),
  next: {
    '*^\\d+$': () => {
      if (!session().ask) return HOME_NEXT[menu.val] || 'home.invalid';
      return menu.val === '1' || menu.val === '2' ? 'language.chosen' : '__start__';
    },
  },
});

menu.state('language.chosen', {
  run: () => {
    const lang = menu.val === '1' ? 'sw' : 'en';
    session().lang = lang;
    languages.set(menu.args.phoneNumber, lang);
    menu.con(homeScreen(false));
  },
  next: { '*^\\d+$': () => HOME_NEXT[menu.val] || 'home.invalid' },
});

menu.state('home.invalid', {
  run: () => menu.con(homeScreen(true)),
  next: { '*^\\d+$': () => HOME_NEXT[menu.val] || 'home.invalid' },
});

menu.state('elsewhere', { run: () => menu.end(t().elsewhere) });

menu.state('land.parcel', { run: () => menu.con(parcelScreen(null)), next: parcelNext });
menu.state('land.invalid', { run: () => menu.con(parcelScreen(t().invalid)), next: parcelNext });
menu.state('land.unknown', { run: () => menu.con(parcelScreen(t().unknown)), next: parcelNext });

const confirmNext = { 1: 'land.pay', 2: 'cancelled', 0: 'land.parcel', '00': '__start__' };
menu.state('land.confirm', {
  run: () => {
    const parcel = menu.val.trim().toUpperCase();
    const { owner, amount } = RATES.get(parcel);
    Promise.all([
      menu.session.set('parcel', parcel),
      menu.session.set('owner', owner),
      menu.session.set('amount', amount),
    ]).then(() => {
      const x = t();
      menu.con(`${x.confirm(parcel, owner, amount)}\n${numbered([x.pay, x.cancel])}\n0. ${x.back}\n00. ${x.homeNav}`);
    });
  },
  next: confirmNext,
  defaultNext: 'land.confirm.invalid',
});

menu.state('land.confirm.invalid', {
  run: () => {
    Promise.all(['parcel', 'owner', 'amount'].map((k) => menu.session.get(k))).then(([p, o, a]) => {
      const x = t();
      menu.con(`${x.invalidChoice}\n${x.confirm(p, o, a)}\n${numbered([x.pay, x.cancel])}\n0. ${x.back}\n00. ${x.homeNav}`);
    });
  },
  next: confirmNext,
  defaultNext: 'land.confirm.invalid',
});

let references = 0;
menu.state('land.pay', {
  // Njia stores the request durably here; this peer has no store, so the benchmark's walk
  // ends with Cancel on both servers.
  run: () => menu.session.get('amount').then((a) => menu.end(t().submitted(`NJ-${(++references).toString(36).toUpperCase()}`, a))),
});

menu.state('cancelled', { run: () => menu.end(t().cancelled) });

menu.on('error', (err) => console.error('ussd-builder:', err.message));

const server = http.createServer((req, res) => {
  const send = (status, text) => {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
    res.end(text);
  };
  if (req.method === 'GET' && req.url === '/healthz') return send(200, 'ok');
  if (req.method !== 'POST' || req.url !== '/ussd/africastalking') return send(404, 'not found');
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size <= 16384) chunks.push(c);
  });
  req.on('end', () => {
    if (size > 16384) return send(413, 'too large');
    const form = querystring.parse(Buffer.concat(chunks).toString());
    const args = {
      sessionId: form.sessionId,
      phoneNumber: form.phoneNumber,
      serviceCode: form.serviceCode,
      Operator: form.networkCode,
      text: form.text || '',
    };
    if (!args.sessionId || !args.phoneNumber) return send(400, 'sessionId and phoneNumber are required');
    menu.run(args).then((reply) => send(200, reply));
  });
});
server.keepAliveTimeout = 65000;
server.listen(Number(port), host);
