// medanchor's web UI: plain JavaScript over the REST API (docs/api.md). The token lives in this
// tab's sessionStorage and travels only in the Authorization header (never in a URL); event
// streams are read with fetch() for the same reason (EventSource cannot send headers).
const $ = (sel) => document.querySelector(sel);
let token = sessionStorage.getItem('medanchor-token') || '';
let me = null;

async function api(path, options = {}) {
  const headers = { ...(options.headers || {}), Authorization: `Bearer ${token}` };
  const res = await fetch(path, { ...options, headers });
  if (!res.ok) {
    let message = `${res.status}`;
    try { message = (await res.json()).error.message; } catch { /* not JSON */ }
    // The token stopped working (its user was removed): forget it and everything shown with it.
    if (res.status === 401 && me) signOut(`Signed out: ${message}`);
    throw new Error(message);
  }
  return res;
}

const percent = (bp) => `${(bp / 100).toFixed(1)} %`;
const words = {
  recorded: 'Recorded; waiting to be sent to the chain',
  sent: 'Sent to the chain; waiting for a block',
  confirmed: 'Confirmed on chain',
  needs_review: 'Held for human review; not anchored',
  failed: 'Could not be anchored',
};

async function signIn(value) {
  token = value;
  try {
    me = await (await api('/api/me')).json();
    sessionStorage.setItem('medanchor-token', token);
    $('#who').textContent = `Signed in as ${me.name} (${me.role})`;
    $('#signin').hidden = true;
    $('#signout').hidden = false;
    // The PACS page exists only when the server runs the DICOM listener (serve --listen-dicom).
    $('#nav-pacs').hidden = !me.pacs;
    route();
  } catch (e) {
    me = null;
    $('#who').textContent = `Sign-in failed: ${e.message}`;
  }
}

// Forgets the token (this tab's sessionStorage too) and every image fetched with it, and hides
// every page.
function signOut(why) {
  token = '';
  me = null;
  sessionStorage.removeItem('medanchor-token');
  clearTimeout(resultTimer);
  revokeBlobs();
  for (const img of document.querySelectorAll('#base-image, #overlay-image')) img.removeAttribute('src');
  $('#token').value = '';
  $('#signin').hidden = false;
  $('#signout').hidden = true;
  $('#nav-pacs').hidden = true;
  for (const body of document.querySelectorAll('#pacs-table tbody, #series-instances tbody, #series-sends tbody')) body.replaceChildren();
  $('#who').textContent = why;
  show('signed-out');
}

function show(page) {
  clearTimeout(pacsTimer);
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `page-${page}`;
  for (const a of document.querySelectorAll('nav a')) {
    if (a.getAttribute('href') === `#${page}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function route() {
  if (!me) { show('signed-out'); return; }
  const [page, arg] = location.hash.replace(/^#/, '').split('/');
  if (page !== 'result') { clearTimeout(resultTimer); revokeBlobs(); }  // the result is left
  if (page === 'result' && arg) { show('result'); openResult(arg); }
  else if (page === 'review') { show('review'); loadReview(); }
  else if (page === 'verify') { show('verify'); }
  else if (page === 'registry') { show('registry'); loadRegistry(); }
  else if (page === 'pacs') { show('pacs'); pacsOffset = Math.max(0, Math.floor(Number(arg)) || 0); loadPacs(); }
  else if (page === 'series' && arg) { show('series'); openSeries(arg); }
  else { show('analyse'); setUpAnalyse(); }
}

// ---- Analyse ------------------------------------------------------------------------------
function setUpAnalyse() {
  const can = me.permissions.includes('analyze');
  $('#upload-area').hidden = !can;
  $('#no-upload').hidden = can;
}

async function upload(files) {
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append('file', f, 'image');  // the name stays in this browser
  const body = $('#results tbody');
  body.replaceChildren();
  const rows = [...files].map((f, i) => {
    const tr = document.createElement('tr');
    tr.innerHTML = `<th scope="row"></th><td><progress max="100" value="0"></progress>
      <span class="state">queued</span></td><td class="finding"></td><td class="chain"></td>
      <td class="link"></td>`;
    tr.querySelector('th').textContent = f.name;
    tr.querySelector('progress').setAttribute('aria-label', `Progress of ${f.name}`);
    body.append(tr);
    return tr;
  });
  $('#results').hidden = false;
  $('#batch').hidden = false;
  $('#start').disabled = true;
  try {
    const job = await (await api('/api/jobs', { method: 'POST', body: form })).json();
    await follow(job.id, (j) => render(j, rows));
  } catch (e) {
    $('#batch-percent').textContent = `Upload failed: ${e.message}`;
  } finally {
    $('#start').disabled = false;
  }
}

function render(job, rows) {
  $('#batch-progress').value = job.progress.percent;
  $('#batch-percent').textContent = `${job.progress.percent} %`;
  job.files.forEach((f, i) => {
    const tr = rows[i];
    if (!tr) return;
    const done = f.state === 'analysed' || f.state === 'failed';
    tr.querySelector('progress').value = done ? 100 : f.state === 'analysing' ? 50 : 0;
    tr.querySelector('.state').textContent = f.state;
    if (f.error) tr.querySelector('.finding').textContent = `Failed: ${f.error.message}`;
    if (f.finding) tr.querySelector('.finding').textContent = `${f.finding}, ${percent(f.confidence_bp)}`;
    if (f.anchoring) tr.querySelector('.chain').textContent = f.anchoring;
    if (f.analysis_id && !tr.querySelector('.link a')) {
      const a = document.createElement('a');
      a.href = `#result/${f.analysis_id}`;
      a.textContent = `Open result ${f.analysis_id}`;
      tr.querySelector('.link').append(a);
    }
  });
}

// Reads the job's server-sent events until the stream ends.
async function follow(id, onJob) {
  const res = await api(`/api/jobs/${id}/events`);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
      if (data) onJob(JSON.parse(data));
    }
  }
}

// ---- Result -------------------------------------------------------------------------------
let resultTimer = null;
// Object URLs of the images on the result page: each holds its image in memory until revoked.
let blobs = [];
// Bumped whenever the result shown is left (another result, another page, sign-out): an answer
// that arrives for an earlier one is dropped, so it neither shows nor holds an image.
let resultGeneration = 0;

// An object URL of the image at path, or null when the result has been left meanwhile.
async function blobUrl(path, generation) {
  const blob = await (await api(path)).blob();
  if (generation !== resultGeneration) return null;
  const url = URL.createObjectURL(blob);
  blobs.push(url);
  return url;
}

function revokeBlobs() {
  resultGeneration++;
  for (const url of blobs) URL.revokeObjectURL(url);
  blobs = [];
}

async function openResult(id) {
  clearTimeout(resultTimer);
  revokeBlobs();
  const generation = resultGeneration;
  for (const img of document.querySelectorAll('#base-image, #overlay-image')) img.removeAttribute('src');
  $('#result-error').hidden = true;
  $('#result-body').hidden = true;
  if (!/^[1-9][0-9]{0,15}$/.test(id)) {
    $('#result-error').textContent = 'No such analysis: an analysis is named by its number.';
    $('#result-error').hidden = false;
    return;
  }
  let a;
  try {
    a = await (await api(`/api/analyses/${id}`)).json();
  } catch (e) {
    if (generation !== resultGeneration) return;
    $('#result-error').textContent = `Analysis ${id}: ${e.message}`;
    $('#result-error').hidden = false;
    return;
  }
  if (generation !== resultGeneration) return;
  $('#result-title').textContent = `Result of analysis ${a.id}`;
  $('#finding').textContent = a.finding;
  $('#confidence').textContent = percent(a.confidence_bp);
  $('#model').textContent = `${a.model.name} ${a.model.version} (SHA-256 ${a.model.sha256.slice(0, 16)}…)`;
  $('#review-status').textContent = a.review_reason
    ? `Needs human review: ${a.review_reason}` : 'Not needed';
  $('#review-status').className = a.review_reason ? 'state-held' : '';
  $('#image-hash').textContent = a.image_hash;
  $('#digest').textContent = a.report_digest;
  $('#analyst').textContent = a.analyst;
  showAnchoring(a);
  // Retraction: one's own analysis, once it is on chain.
  $('#retract-area').hidden = !(me.permissions.includes('review') && a.analyst === me.principal && a.onchain_id != null);
  $('#retract').disabled = false;
  $('#retract-message').textContent = '';
  $('#retract').onclick = () => retract(a.id);
  const downloads = $('#downloads');
  downloads.replaceChildren();
  const labels = { 'report.json': 'Report (JSON)', 'report.fhir.json': 'FHIR R4 DiagnosticReport',
    'report.sr.dcm': 'DICOM Structured Report', 'saliency.png': 'Saliency map (PNG)' };
  for (const name of a.files) {
    const li = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = `Download ${labels[name] || name}`;
    button.addEventListener('click', async () => {
      const link = document.createElement('a');
      link.href = URL.createObjectURL(await (await api(`/api/analyses/${a.id}/files/${name}`)).blob());
      link.download = `analysis-${a.id}-${name}`;
      link.click();
      // The download has its own copy once started.
      setTimeout(() => URL.revokeObjectURL(link.href), 30_000);
    });
    li.append(button);
    downloads.append(li);
  }
  $('#result-body').hidden = false;
  try {
    const base = await blobUrl(`/api/analyses/${a.id}/image.png`, generation);
    if (!base) return;
    $('#base-image').src = base;
    if (a.files.includes('saliency.png')) {
      const overlay = await blobUrl(`/api/analyses/${a.id}/files/saliency.png`, generation);
      if (!overlay) return;
      $('#overlay-image').src = overlay;
    }
  } catch (e) {
    if (generation !== resultGeneration) return;
    $('#result-error').textContent = `Image: ${e.message}`;
    $('#result-error').hidden = false;
  }
}

function showAnchoring(a) {
  const el = $('#anchoring');
  let text = words[a.anchoring] || a.anchoring;
  if (a.anchoring === 'confirmed' && a.block_height != null) text += ` in block ${a.block_height}`;
  el.textContent = text;
  el.className = a.anchoring === 'confirmed' ? 'state-confirmed' : a.anchoring === 'needs_review' ? 'state-held' : '';
  $('#txid').textContent = a.txid || 'none yet';
  // Live until the chain has settled it.
  if (a.anchoring === 'recorded' || a.anchoring === 'sent') {
    resultTimer = setTimeout(async () => {
      if (!location.hash.startsWith(`#result/${a.id}`)) return;
      try { showAnchoring(await (await api(`/api/analyses/${a.id}`)).json()); } catch { /* next time */ }
    }, 1000);
  }
}

// ---- Verify -------------------------------------------------------------------------------
const verdicts = {
  valid: 'Verified: a valid analysis of this image is anchored on the chain.',
  'not-anchored': 'Not found: the chain holds no analysis of this image. Any change to the image, even one pixel, makes it a different image.',
  disputed: 'Disputed: analyses of this image are on the chain, but every one is retracted or disputed.',
  'report-mismatch': 'Warning: a report kept here differs from the one anchored on the chain.',
};
const statusWords = {
  unreviewed: 'Not reviewed yet', confirmed: 'Confirmed by a peer', disputed: 'Disputed by a peer',
  retracted: 'Retracted by its analyst',
};

async function verify(request) {
  $('#verify-error').hidden = true;
  $('#verify-result').hidden = true;
  let v;
  try {
    v = await (await request()).json();
  } catch (e) {
    $('#verify-error').textContent = `Verification failed: ${e.message}`;
    $('#verify-error').hidden = false;
    return;
  }
  $('#verdict').textContent = verdicts[v.verdict] || v.verdict;
  $('#verdict').className = v.verdict === 'valid' ? 'state-confirmed' : 'state-held';
  const body = $('#verify-table tbody');
  body.replaceChildren();
  for (const a of v.analyses) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<th scope="row"></th><td></td><td></td><td></td><td></td>';
    tr.children[0].textContent = `On-chain analysis ${a.analysis_id}`;
    tr.children[1].textContent = `${a.finding}, ${percent(a.confidence_bp)} (${a.model})`;
    tr.children[2].textContent = `Block ${a.block_height}, ${a.time}`;
    tr.children[3].textContent = `${statusWords[a.status] || a.status} (${a.confirmations} confirmed, ${a.disputes} disputed)`;
    // In words; the sentences themselves (with the report's path) are in the technical detail.
    tr.children[4].textContent = !a.local_report.length ? 'No report kept here'
      : a.local_report.every((c) => /matches/.test(c)) ? 'The report kept here matches the one anchored'
        : a.local_report.join(' ');
    body.append(tr);
  }
  $('#verify-table').hidden = !v.analyses.length;
  $('#local-only').textContent = v.local_only.length
    ? `Recorded here and not on the chain yet: ${v.local_only.map((l) => `analysis ${l.ledger_id} (${l.state})`).join(', ')}.`
    : '';
  $('#verify-json').textContent = JSON.stringify(v, null, 2);
  $('#verify-result').hidden = false;
}

function verifyFile(file) {
  if (!file) return;
  const form = new FormData();
  form.append('file', file, 'image');
  verify(() => api('/api/verify', { method: 'POST', body: form }));
}

// ---- Review queue -------------------------------------------------------------------------
async function loadReview() {
  const canReview = me.permissions.includes('review');
  const peers = $('#peer-table tbody');
  peers.replaceChildren();
  const confirmed = (await (await api('/api/ledger?state=confirmed&limit=1000')).json()).analyses
    .filter((a) => a.analyst !== me.principal);
  for (const a of confirmed) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<th scope="row"><a></a></th><td></td><td></td><td class="mono"></td><td></td>';
    const link = tr.querySelector('a');
    link.href = `#result/${a.id}`;
    link.textContent = `Analysis ${a.id}`;
    tr.children[1].textContent = a.finding;
    tr.children[2].textContent = percent(a.confidence_bp);
    tr.children[3].textContent = a.analyst;
    if (canReview) {
      const cell = tr.children[4];
      const note = document.createElement('textarea');
      note.rows = 2;
      note.setAttribute('aria-label', `Your note on analysis ${a.id}`);
      cell.append(note);
      for (const decision of ['confirm', 'dispute']) {
        const b = document.createElement('button');
        b.type = 'button';
        b.textContent = `${decision === 'confirm' ? 'Confirm' : 'Dispute'} analysis ${a.id}`;
        b.addEventListener('click', () => review(a.id, decision, note.value, cell));
        cell.append(b);
      }
    } else {
      tr.children[4].textContent = 'Your role cannot review';
    }
    peers.append(tr);
  }
  if (!confirmed.length) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td colspan="5">No anchored analysis by another professional.</td>';
    peers.append(tr);
  }

  const body = $('#review-table tbody');
  body.replaceChildren();
  const { analyses } = await (await api('/api/review-queue')).json();
  for (const a of analyses) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<th scope="row"><a></a></th><td></td><td></td><td></td>';
    const link = tr.querySelector('a');
    link.href = `#result/${a.id}`;
    link.textContent = `Analysis ${a.id}`;
    tr.children[1].textContent = a.finding;
    tr.children[2].textContent = percent(a.confidence_bp);
    tr.children[3].textContent = a.review_reason;
    body.append(tr);
  }
  if (!analyses.length) {
    const tr = document.createElement('tr');
    tr.innerHTML = '<td colspan="4">Nothing is held for review.</td>';
    body.append(tr);
  }
}

async function review(id, decision, note, cell) {
  if (!note.trim()) {
    $('#review-message').textContent = 'Write a note first: its digest goes on the chain with your review.';
    return;
  }
  for (const b of cell.querySelectorAll('button')) b.disabled = true;
  $('#review-message').textContent = `Signing your review of analysis ${id}; waiting for a block…`;
  try {
    const r = await (await api(`/api/analyses/${id}/review`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ decision, note }),
    })).json();
    $('#review-message').textContent = `Analysis ${id}: ${decision === 'confirm' ? 'confirmed' : 'disputed'} on chain in block ${r.block_height} (transaction ${r.txid}).`;
    cell.replaceChildren(document.createTextNode(decision === 'confirm' ? 'You confirmed it' : 'You disputed it'));
  } catch (e) {
    $('#review-message').textContent = `Review of analysis ${id} failed: ${e.message}`;
    for (const b of cell.querySelectorAll('button')) b.disabled = false;
  }
}

async function retract(id) {
  $('#retract').disabled = true;
  $('#retract-message').textContent = 'Signing the retraction; waiting for a block…';
  try {
    const r = await (await api(`/api/analyses/${id}/retract`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}',
    })).json();
    $('#retract-message').textContent = `Retracted on chain in block ${r.block_height}.`;
  } catch (e) {
    $('#retract-message').textContent = `Retraction failed: ${e.message}`;
    $('#retract').disabled = false;
  }
}

// ---- Registry -----------------------------------------------------------------------------
// The parameters in words; any other field the contract returns is shown by its name.
const parameterWords = {
  contract_version: 'Contract version',
  paused: 'Paused (no submissions or reviews)',
  min_confidence: 'Minimum confidence (global)',
  max_verification_period: 'Longest verification',
  max_verification_period_limit: 'Longest verification an admin may set',
  max_batch_size: 'Analyses per batch, at most',
  max_root_leaves: 'Analyses per Merkle root, at most',
  admin_count: 'Admins',
  analysis_count: 'Analyses anchored',
  model_count: 'Models registered',
  professional_count: 'Professionals registered',
  root_count: 'Merkle roots anchored',
};
const days = (s) => `${Math.round(Number(s) / 86400)} days`;
const when = (unix) => new Date(Number(unix) * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
function parameterText(key, v) {
  if (key === 'paused') return v ? 'Yes' : 'No';
  if (key === 'min_confidence') return percent(v);
  if (key.startsWith('max_verification_period')) return days(v);
  return String(v);
}
// Why a professional may not submit or review now, from the contract's error name.
const inactiveWords = {
  'ERR-NOT-VERIFIED': 'Not verified yet',
  'ERR-SUSPENDED': 'Suspended',
  'ERR-VERIFICATION-EXPIRED': 'Verification expired',
};
function standingText(p) {
  if (!p.professional) return 'Not registered as a professional';
  if (p.status === 'active') return 'Active';
  const why = p.why_inactive;
  return `Inactive: ${why ? (inactiveWords[why.name] || `${why.name}: ${why.meaning}`) : 'unknown'}`;
}

// A row header cell (th scope=row) with `text`.
function rowHeader(tr, text, className) {
  const th = document.createElement('th');
  th.scope = 'row';
  if (className) th.className = className;
  th.textContent = text;
  tr.append(th);
}

// One row across `columns` saying the table is empty.
function emptyRow(tbody, columns, text) {
  const tr = document.createElement('tr');
  const td = document.createElement('td');
  td.colSpan = columns;
  td.textContent = text;
  tr.append(td);
  tbody.append(tr);
}

function cells(tr, texts) {
  for (const t of texts) {
    const td = document.createElement('td');
    td.textContent = t;
    tr.append(td);
  }
}

// A registry write (docs/api.md): signed with the caller's key on the server, answered once mined;
// the page then reads the registry again.
async function registryWrite(what, path, body) {
  const message = $('#registry-message');
  for (const b of document.querySelectorAll('#page-registry button')) b.disabled = true;
  message.textContent = `${what}: signing; waiting for a block…`;
  try {
    const r = await (await api(path, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body || {}),
    })).json();
    message.textContent = `${what}: done on chain in block ${r.block_height}.`;
  } catch (e) {
    message.textContent = `${what} failed: ${e.message}`;
  }
  await loadRegistry();
}

function actionButton(text, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = text;
  b.addEventListener('click', onClick);
  return b;
}

async function loadRegistry() {
  $('#registry-error').hidden = true;
  const canAdminister = me.permissions.includes('administer');
  const canCredential = me.permissions.includes('credential');
  $('#admin-controls').hidden = !canAdminister;
  for (const th of document.querySelectorAll('.admin-only')) th.hidden = !canAdminister;
  for (const th of document.querySelectorAll('.credential-only')) th.hidden = !canCredential;
  try {
    const [params, models, pros] = await Promise.all([
      api('/api/chain/parameters').then((r) => r.json()),
      api('/api/chain/models?limit=50').then((r) => r.json()),
      api('/api/chain/professionals').then((r) => r.json()),
    ]);
    $('#registry-contract').textContent = `Contract ${params.contract}`;
    const dl = $('#registry-parameters');
    dl.replaceChildren();
    for (const [k, v] of Object.entries(params.parameters)) {
      const dt = document.createElement('dt');
      dt.textContent = parameterWords[k] || k;
      const dd = document.createElement('dd');
      dd.textContent = parameterText(k, v);
      dd.dataset.field = k;
      dl.append(dt, dd);
    }
    const paused = params.parameters.paused;
    $('#pause-toggle').textContent = paused ? 'Resume submissions and reviews' : 'Pause submissions and reviews';
    $('#pause-toggle').onclick = () => registryWrite(paused ? 'Resume' : 'Pause',
      paused ? '/api/chain/unpause' : '/api/chain/pause');
    $('#min-confidence').value = params.parameters.min_confidence;

    const mbody = $('#models-table tbody');
    mbody.replaceChildren();
    for (const m of models.models) {
      const tr = document.createElement('tr');
      rowHeader(tr, `Model ${m.id}`);
      cells(tr, [`${m.name} ${m.version}`, m.active ? 'Active' : 'Retired', percent(m.min_confidence),
        `${when(m.registered_at)} by ${m.registered_by}`, m.model_hash]);
      tr.children[2].className = m.active ? 'state-confirmed' : 'state-inactive';
      tr.children[5].className = 'mono';
      if (canAdminister) {
        const td = document.createElement('td');
        if (m.active) {
          td.append(actionButton(`Retire model ${m.id}`, () =>
            registryWrite(`Retire model ${m.id}`, `/api/chain/models/${m.id}/retire`)));
        }
        tr.append(td);
      }
      mbody.append(tr);
    }
    if (!models.models.length) emptyRow(mbody, 6, 'No model is registered.');

    const pbody = $('#professionals-table tbody');
    pbody.replaceChildren();
    for (const p of pros.professionals) {
      const tr = document.createElement('tr');
      rowHeader(tr, p.principal, 'mono');
      const roles = [p.admin && 'admin', p.verifier && 'verifier'].filter(Boolean).join(', ') || '—';
      const rec = p.professional;
      cells(tr, [p.accounts.map((a) => `${a.name} (${a.role})`).join(', '), roles, standingText(p),
        rec && Number(rec.verified_until) > 0 ? when(rec.verified_until) : '—', rec ? rec.specialty : '—']);
      tr.children[3].className = p.status === 'active' ? 'state-confirmed' : 'state-inactive';
      if (canCredential) {
        const td = document.createElement('td');
        // Not for oneself: the contract refuses it (ERR-SELF-VERIFICATION).
        if (rec && p.principal !== me.principal) {
          const who = `/api/chain/professionals/${p.principal}`;
          const name = p.accounts.map((a) => a.name).join(', ');
          td.append(rec.suspended
            ? actionButton(`Reinstate ${name}`, () => registryWrite(`Reinstate ${name}`, `${who}/reinstate`))
            : actionButton(`Suspend ${name}`, () => registryWrite(`Suspend ${name}`, `${who}/suspend`)));
          td.append(actionButton(`Verify ${name} for 365 days`, () =>
            registryWrite(`Verify ${name}`, `${who}/verify`, { expires_in_days: 365 })));
        }
        tr.append(td);
      }
      pbody.append(tr);
    }
    if (!pros.professionals.length) emptyRow(pbody, 6, 'No account here has a signing key.');
  } catch (e) {
    $('#registry-error').textContent = `The chain could not be read: ${e.message}`;
    $('#registry-error').hidden = false;
  }
}

// ---- PACS ---------------------------------------------------------------------------------
// The listener's series (GET /api/pacs/series), read again while the page is shown: every 2 s
// while one is in progress, every 10 s otherwise (a new series appears by itself), and 10 s
// after a failed read.
const pacsPage = 25;
const pacsBusyMs = 2000;
const pacsIdleMs = 10000;
// Whether the PACS page is still what the user looks at, signed in (a read may end after a
// sign-out or after another page opened: its answer is then dropped and nothing is scheduled).
const pacsShown = () => me !== null && !$('#page-pacs').hidden;
let pacsOffset = 0;
let pacsTimer = null;
const seriesWords = {
  receiving: 'Receiving (not yet stable)',
  waiting: 'Waiting to be analysed',
  analysing: 'Analysing',
  summarised: 'Summarised',
  failed: 'No instance could be analysed',
};
const inProgress = (s) => s.state === 'receiving' || s.state === 'waiting' || s.state === 'analysing'
  || s.sends.some((d) => d.state === 'pending');
const shortUid = (uid) => (uid.length > 24 ? `…${uid.slice(-20)}` : uid);
const worstText = (w) => (w ? `${w.finding}, ${percent(w.confidence_bp)}` : '—');
function sendsText(sends) {
  if (!sends.length) return 'No destination';
  return sends.map((d) => (d.state === 'sent' ? `Sent to ${d.destination}`
    : `Pending to ${d.destination}${d.last_error ? ` (${d.attempts} failed: ${d.last_error})` : ''}`)).join('; ');
}

async function loadPacs() {
  clearTimeout(pacsTimer);
  $('#pacs-error').hidden = true;
  let list;
  let stats;
  try {
    [list, stats] = await Promise.all([
      api(`/api/pacs/series?limit=${pacsPage}&offset=${pacsOffset}`).then((r) => r.json()),
      api('/api/pacs/stats').then((r) => r.json()),
    ]);
  } catch (e) {
    if (!pacsShown()) return;
    $('#pacs-error').textContent = `The listener's state could not be read: ${e.message}`;
    $('#pacs-error').hidden = false;
    pacsTimer = setTimeout(loadPacs, pacsIdleMs);
    return;
  }
  if (!pacsShown()) return;
  $('#pacs-stats').textContent = `Listening on DICOM port ${stats.port}: ${stats.instances_received} instances received, `
    + `${stats.images_analysed} analysed, ${stats.images_failed} failed, ${stats.series_analysed} series SRs written, `
    + `${stats.sends_ok} sent, ${stats.instances_refused} refused.`;
  const body = $('#pacs-table tbody');
  body.replaceChildren();
  for (const s of list.series) {
    const tr = document.createElement('tr');
    tr.dataset.series = s.series_uid;
    const th = document.createElement('th');
    th.scope = 'row';
    th.className = 'mono';
    const link = document.createElement('a');
    link.href = `#series/${s.series_uid}`;
    link.textContent = shortUid(s.series_uid);
    link.title = s.series_uid;
    th.append(link);
    tr.append(th);
    const n = s.instances;
    cells(tr, [seriesWords[s.state] || s.state, `${n.analysed} / ${n.failed} / ${n.received}`,
      worstText(s.worst), sendsText(s.sends), s.last_received_at]);
    tr.children[1].className = s.state === 'summarised' ? 'state-confirmed' : s.state === 'failed' ? 'state-inactive' : 'state-held';
    tr.children[1].dataset.state = s.state;
    body.append(tr);
  }
  if (!list.series.length) emptyRow(body, 6, 'No series received yet.');
  $('#pacs-pager').hidden = list.total <= pacsPage;
  $('#pacs-newer').disabled = pacsOffset === 0;
  $('#pacs-older').disabled = pacsOffset + pacsPage >= list.total;
  pacsTimer = setTimeout(loadPacs, list.series.some(inProgress) ? pacsBusyMs : pacsIdleMs);
}

async function openSeries(uid) {
  clearTimeout(pacsTimer);
  $('#series-error').hidden = true;
  let s;
  try {
    s = await (await api(`/api/pacs/series/${encodeURIComponent(uid)}`)).json();
  } catch (e) {
    $('#series-error').textContent = `Series ${uid}: ${e.message}`;
    $('#series-error').hidden = false;
    $('#series-body').hidden = true;
    return;
  }
  $('#series-uid').textContent = s.series_uid;
  $('#series-study').textContent = s.study_uid;
  $('#series-state').textContent = seriesWords[s.state] || s.state;
  $('#series-worst').textContent = worstText(s.worst);
  $('#series-times').textContent = `${s.first_received_at} to ${s.last_received_at}`
    + (s.last_analysed_at ? `; last analysed ${s.last_analysed_at}` : '');
  const ibody = $('#series-instances tbody');
  ibody.replaceChildren();
  for (const i of s.instance_list) {
    const tr = document.createElement('tr');
    rowHeader(tr, i.sop_uid, 'mono');
    cells(tr, [i.state, i.error ? `Failed: ${i.error}` : i.finding ? `${i.finding}, ${percent(i.confidence_bp)}` : '—',
      i.anchoring ? (words[i.anchoring] || i.anchoring) : '—', '']);
    if (i.analysis_id != null) {
      const a = document.createElement('a');
      a.href = `#result/${i.analysis_id}`;
      a.textContent = `Open result ${i.analysis_id}`;
      tr.children[4].append(a);
    }
    ibody.append(tr);
  }
  const sbody = $('#series-sends tbody');
  sbody.replaceChildren();
  for (const d of s.sends) {
    const tr = document.createElement('tr');
    rowHeader(tr, d.destination, 'mono');
    cells(tr, [d.kind === 'sr' ? 'DICOM SR' : 'FHIR bundle', d.state === 'sent' ? `Sent ${d.sent_at}` : 'Pending',
      String(d.attempts), d.last_error || '—']);
    sbody.append(tr);
  }
  if (!s.sends.length) emptyRow(sbody, 5, 'No destination is configured.');
  $('#series-title').textContent = `Series ${shortUid(s.series_uid)}`;
  $('#series-body').hidden = false;
  if (inProgress(s) && location.hash === `#series/${uid}`) pacsTimer = setTimeout(() => openSeries(uid), pacsBusyMs);
}

// ---- wiring -------------------------------------------------------------------------------
function wire() {
  $('#signin').addEventListener('submit', (e) => { e.preventDefault(); signIn($('#token').value.trim()); });
  $('#signout').addEventListener('click', () => signOut('Signed out.'));
  $('#upload').addEventListener('submit', (e) => { e.preventDefault(); upload($('#files').files); });
  const drop = $('#drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    upload(e.dataTransfer.files);
  });
  $('#overlay-toggle').addEventListener('change', (e) => { $('#overlay-image').hidden = !e.target.checked; });
  $('#overlay-opacity').addEventListener('input', (e) => {
    $('#overlay-image').style.opacity = String(e.target.value / 100);
  });
  $('#verify-image').addEventListener('change', (e) => verifyFile(e.target.files[0]));
  const vdrop = $('#verify-drop');
  vdrop.addEventListener('dragover', (e) => { e.preventDefault(); vdrop.classList.add('over'); });
  vdrop.addEventListener('dragleave', () => vdrop.classList.remove('over'));
  vdrop.addEventListener('drop', (e) => {
    e.preventDefault();
    vdrop.classList.remove('over');
    verifyFile(e.dataTransfer.files[0]);
  });
  $('#min-confidence-form').addEventListener('submit', (e) => {
    e.preventDefault();
    registryWrite('Set the minimum confidence', '/api/chain/parameters',
      { min_confidence: Number($('#min-confidence').value) });
  });
  $('#verify-hash').addEventListener('submit', (e) => {
    e.preventDefault();
    const hash = $('#hash').value.trim();
    verify(() => api(`/api/verify/${encodeURIComponent(hash).replace('%3A', ':')}`));
  });
  $('#pacs-newer').addEventListener('click', () => { location.hash = `#pacs/${Math.max(0, pacsOffset - pacsPage)}`; });
  $('#pacs-older').addEventListener('click', () => { location.hash = `#pacs/${pacsOffset + pacsPage}`; });
  window.addEventListener('hashchange', route);
  if (token) signIn(token); else route();
}

wire();
