// The dashboard's page: polls its JSON API every REFRESH_MS and renders tasks and jobs with DOM
// calls only (text is never parsed as HTML, so a task name or an error message cannot inject
// markup). Rows are kept while their data is unchanged, so a button is not replaced under a click.

const REFRESH_MS = 2000
const PAGE_SIZE = 25
const base = document.body.dataset.base
const readOnly = document.body.dataset.readOnly === 'true'
const view = { status: '', offset: 0, detail: null }
let refreshing = null

const $ = id => document.getElementById(id)

function element (tag, props = {}, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props)) {
    if (key === 'dataset') Object.assign(node.dataset, value)
    else if (key in node) node[key] = value
    else node.setAttribute(key, value)
  }
  node.append(...children.filter(child => child !== null && child !== undefined))
  return node
}

// Times ------------------------------------------------------------------------------------------

const UNITS = [['d', 86_400_000], ['h', 3_600_000], ['min', 60_000], ['s', 1000]]

/** "in 3 s", "2 min ago", "now". */
function relative (ms) {
  const distance = Math.abs(ms)
  if (distance < 1000) return 'now'
  const [unit, size] = UNITS.find(([, size]) => distance >= size)
  const amount = Math.floor(distance / size)
  return ms > 0 ? `in ${amount} ${unit}` : `${amount} ${unit} ago`
}

/** 1500 → "1.5 s", 300000 → "5 min". */
function duration (ms) {
  if (ms < 1000) return `${ms} ms`
  const [unit, size] = UNITS.find(([, size]) => ms >= size)
  const amount = ms / size
  return `${Number.isInteger(amount) ? amount : amount.toFixed(1)} ${unit}`
}

/** A <time> showing the distance from now, with the exact time on hover; `time` is ms since the epoch (the overview) or an ISO string (jobs). */
function timeOf (time) {
  const date = new Date(time ?? NaN)
  if (Number.isNaN(date.getTime())) return '—'
  return element('time', { dateTime: date.toISOString(), title: date.toLocaleString() }, relative(date.getTime() - Date.now()))
}

function retime () {
  for (const node of document.querySelectorAll('time')) node.textContent = relative(new Date(node.dateTime).getTime() - Date.now())
}

// Cells ------------------------------------------------------------------------------------------

function statusPill (status) {
  return element('span', { className: `status status-${status}` }, status)
}

function cell (label, content, className = '') {
  return element('td', { className, dataset: { label } }, content)
}

function button (label, action, target) {
  return element('button', { type: 'button', dataset: { action, target } }, label)
}

function scheduleOf (schedule) {
  if (schedule.every !== undefined) return `every ${duration(schedule.every)}`
  if (schedule.cron !== undefined) return element('span', {}, element('span', { className: 'mono' }, schedule.cron), element('span', { className: 'sub' }, schedule.timezone))
  return 'loop'
}

function lastRunOf (run) {
  if (run === null) return '—'
  return element('span', {},
    statusPill(run.status), ' ', timeOf(run.finishedAt),
    element('span', { className: 'sub' }, duration(run.durationMs)),
    run.error === undefined ? null : element('span', { className: 'sub error' }, run.error))
}

function taskRow (task) {
  const paused = task.state === 'paused'
  const actions = readOnly
    ? null
    : cell('Actions', element('span', {}, button('Run now', 'trigger', task.name), ' ', button(paused ? 'Resume' : 'Pause', paused ? 'resume' : 'pause', task.name)), 'actions')
  return element('tr', { dataset: { task: task.name } },
    cell('Name', task.name, 'mono'),
    cell('Schedule', scheduleOf(task.schedule)),
    cell('State', statusPill(task.state)),
    cell('Next run', timeOf(task.nextRunAt)),
    cell('Last run', lastRunOf(task.lastRun)),
    cell('Runs', String(task.runs), 'number'),
    cell('Failures', String(task.failures), 'number'),
    cell('Skips', String(task.skips), 'number'),
    actions)
}

function progressOf (progress) {
  if (progress === undefined) return '—'
  if (typeof progress === 'number') return element('progress', { max: 100, value: progress, title: `${progress} %` })
  return element('span', { className: 'mono' }, JSON.stringify(progress))
}

function jobActions (job) {
  if (readOnly) return null
  const cancellable = job.status === 'queued' || job.status === 'running'
  const retryable = job.status === 'failed' || job.status === 'cancelled'
  return cell('Actions', element('span', {},
    cancellable ? button('Cancel', 'cancel', job.id) : null,
    retryable ? button('Retry', 'retry', job.id) : null), 'actions')
}

function jobRow (job) {
  return element('tr', { dataset: { job: job.id } },
    cell('Id', element('button', { type: 'button', className: 'link mono', title: job.id, dataset: { action: 'detail', target: job.id } }, job.id.slice(0, 8))),
    cell('Name', job.name, 'mono'),
    cell('Status', statusPill(job.status)),
    cell('Enqueued', timeOf(job.enqueuedAt)),
    cell('Started', timeOf(job.startedAt)),
    cell('Finished', timeOf(job.finishedAt)),
    cell('Attempt', job.attempt === undefined ? '—' : String(job.attempt), 'number'),
    cell('Progress', progressOf(job.progress)),
    cell('Error', job.error ?? '', 'error'),
    jobActions(job))
}

/** Puts a row per item in `tbody`, in order, reusing the row of an item whose data did not change. */
function renderRows (tbody, items, keyOf, rowOf) {
  const kept = new Map([...tbody.rows].map(row => [row.dataset.key, row]))
  const rows = items.map(item => {
    const key = keyOf(item)
    const signature = JSON.stringify(item)
    const old = kept.get(key)
    if (old !== undefined && old.dataset.signature === signature) return old
    const row = rowOf(item)
    row.dataset.key = key
    row.dataset.signature = signature
    return row
  })
  tbody.replaceChildren(...rows)
}

// Views ------------------------------------------------------------------------------------------

const COUNTS = ['queued', 'running', 'succeeded', 'failed', 'rejected']

function renderCounts (stats) {
  $('counts').replaceChildren(...COUNTS.map(name =>
    element('div', { dataset: { count: name } }, element('dt', {}, name), element('dd', {}, String(stats[name])))))
}

function renderTasks (tasks) {
  renderRows($('tasks').tBodies[0], tasks, task => task.name, taskRow)
  $('no-tasks').hidden = tasks.length > 0
}

function renderJobs (jobs) {
  const page = jobs.slice(0, PAGE_SIZE)
  renderRows($('jobs').tBodies[0], page, job => job.id, jobRow)
  $('no-jobs').hidden = page.length > 0
  $('previous').disabled = view.offset === 0
  $('next').disabled = jobs.length <= PAGE_SIZE
  $('page').textContent = `Page ${view.offset / PAGE_SIZE + 1}`
}

const DETAIL_FIELDS = ['id', 'name', 'status', 'attempt', 'progress', 'error', 'enqueuedAt', 'runAt', 'startedAt', 'finishedAt']

function renderDetail (job) {
  $('detail').hidden = false
  $('detail-title').textContent = `Job ${job.name}`
  $('detail-fields').replaceChildren(...DETAIL_FIELDS.filter(field => job[field] !== undefined).flatMap(field => {
    const value = job[field]
    const shown = field === 'status' ? statusPill(value) : field.endsWith('At') ? timeOf(value) : typeof value === 'object' ? JSON.stringify(value) : String(value)
    return [element('dt', {}, field), element('dd', { className: field === 'id' ? 'mono' : '' }, shown)]
  }))
  $('detail-data').textContent = job.data === undefined ? '(none)' : JSON.stringify(job.data, null, 2)
  $('detail-result').textContent = job.result === undefined ? '(none)' : JSON.stringify(job.result, null, 2)
}

// The API ----------------------------------------------------------------------------------------

async function api (path, method = 'GET') {
  const response = await fetch(`${base}/api${path}`, { method, headers: { accept: 'application/json' } })
  const body = await response.json()
  if (!response.ok) throw new Error(body.message ?? response.statusText)
  return body
}

function jobsPath () {
  const query = new URLSearchParams({ limit: String(PAGE_SIZE + 1), offset: String(view.offset) })
  if (view.status !== '') query.set('status', view.status)
  return `/jobs?${query}`
}

async function load () {
  const [overview, { jobs }, detail] = await Promise.all([
    api('/overview'),
    api(jobsPath()),
    view.detail === null ? null : api(`/jobs/${encodeURIComponent(view.detail)}`).catch(() => null)
  ])
  renderCounts(overview.stats)
  renderTasks(overview.tasks)
  renderJobs(jobs)
  if (detail !== null) renderDetail(detail)
  retime()
}

/** One refresh at a time: a slow answer is not overtaken by the next tick's. */
function refresh () {
  refreshing ??= load().then(() => {
    $('live').textContent = `Live · updated ${new Date().toLocaleTimeString()}`
    $('live').classList.remove('offline')
  }, error => {
    $('live').textContent = `Offline: ${error.message}`
    $('live').classList.add('offline')
  }).finally(() => { refreshing = null })
  return refreshing
}

function notify (message) {
  $('notice').textContent = message
  $('notice').hidden = message === ''
}

const ACTIONS = {
  trigger: name => api(`/tasks/${encodeURIComponent(name)}/trigger`, 'POST'),
  pause: name => api(`/tasks/${encodeURIComponent(name)}/pause`, 'POST'),
  resume: name => api(`/tasks/${encodeURIComponent(name)}/resume`, 'POST'),
  cancel: id => api(`/jobs/${encodeURIComponent(id)}/cancel`, 'POST'),
  retry: id => api(`/jobs/${encodeURIComponent(id)}/retry`, 'POST'),
  detail: async id => { view.detail = id }
}

async function act (event) {
  const target = event.target.closest('button[data-action]')
  if (target === null) return
  const { action, target: subject } = target.dataset
  target.disabled = true
  try {
    await ACTIONS[action](subject)
    notify('')
  } catch (error) {
    notify(`${target.textContent} ${subject}: ${error.message}`)
  }
  await refresh()
}

function selectTab (event) {
  const tab = event.target.closest('button[data-status]')
  if (tab === null) return
  for (const other of $('job-tabs').querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === tab))
  view.status = tab.dataset.status
  view.offset = 0
  refresh()
}

function turnPage (step) {
  view.offset = Math.max(0, view.offset + step * PAGE_SIZE)
  refresh()
}

$('tasks').addEventListener('click', act)
$('jobs').addEventListener('click', act)
$('job-tabs').addEventListener('click', selectTab)
$('previous').addEventListener('click', () => turnPage(-1))
$('next').addEventListener('click', () => turnPage(1))
$('close-detail').addEventListener('click', () => { view.detail = null; $('detail').hidden = true })
// A hidden tab does not poll: an open dashboard costs the server nothing while nobody looks.
setInterval(() => { if (!document.hidden) refresh() }, REFRESH_MS)
document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh() })
refresh()
