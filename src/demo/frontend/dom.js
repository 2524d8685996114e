// DOM helpers. Everything that comes from the API is put in the page as text (text nodes,
// textContent, attribute values), never parsed as HTML: a profile's display name is written
// by whoever owns the profile.
import { NetworkError, ProblemError } from './api.js';

// h('li', { class: 'item', onclick: f }, 'text', child) — children are text or nodes.
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

// Networks differ in whether a handle carries its "@"; the suite shows it the same way for all.
export const handle = (profile) => (profile.handle.startsWith('@') ? profile.handle : `@${profile.handle}`);

// A person is known by their handle; what a person manages (a Page, an organization, a
// channel, a location) by its name, as the network shows it to the suite's users.
export const KIND_TEXT = { page: 'Page', organization: 'Organization', channel: 'Channel', location: 'Location', person: 'Profile' };
const isAsset = (profile) => profile.kind != null && profile.kind !== 'person';
export const profileName = (profile) =>
  (isAsset(profile) && profile.display_name ? profile.display_name : handle(profile));

// The profile as the dropdown and Manage Accounts show it: picture, name, the other name, and
// for an asset the person whose grant reaches it — whom to ask for a re-authorization.
export function profileBlock(profile) {
  const name = profileName(profile);
  // An asset without a handle of its own carries its name as handle (Facebook Pages, say).
  const other = isAsset(profile)
    ? [KIND_TEXT[profile.kind] ?? profile.kind, profile.handle !== profile.display_name && handle(profile)].filter(Boolean).join(' · ')
    : profile.display_name;
  return h('div', { class: 'profile' },
    picture(profile.avatar_url, name),
    h('div', {},
      h('strong', { class: 'profile-name' }, name),
      other && h('div', { class: 'hint' }, other),
      profile.manager && h('div', { class: 'manager' }, `managed by ${profile.manager.name}`)));
}

// A network's picture, or the name's first letter when there is none (or it fails to load).
export function picture(url, name) {
  const letter = h('span', { class: 'avatar letter', 'aria-hidden': 'true' }, (name.replace(/^@/, '')[0] ?? '?').toUpperCase());
  if (!url) return letter;
  const img = h('img', { class: 'avatar', src: url, alt: '', loading: 'lazy', referrerpolicy: 'no-referrer' });
  img.addEventListener('error', () => img.replaceWith(letter));
  return img;
}

const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const UNITS = [['day', 86400], ['hour', 3600], ['minute', 60], ['second', 1]];

// "3 hours ago" / "in 30 days", with the exact time as a tooltip.
export function when(iso) {
  if (!iso) return h('span', {}, '—');
  const seconds = (Date.parse(iso) - Date.now()) / 1000;
  const [unit, size] = UNITS.find(([, s]) => Math.abs(seconds) >= s) ?? UNITS[3];
  return h('time', { datetime: iso, title: iso }, relative.format(Math.round(seconds / size), unit));
}

// A readable rendering of a failure: the problem's title, detail, field errors, what would fix
// it, and the request id to quote to an operator.
export function describeError(error) {
  if (error instanceof NetworkError) {
    return h('div', { class: 'error network-error' }, h('strong', {}, 'No answer. '), error.message);
  }
  if (!(error instanceof ProblemError)) {
    return h('div', { class: 'error' }, h('strong', {}, 'Unexpected error. '), String(error));
  }
  const p = error.problem;
  const facts = [
    p.required_scope && `needs scope ${p.required_scope}`,
    p.required_plan && `needs the ${p.required_plan} plan`,
    p.retry_after && `try again in ${p.retry_after} s`,
    p.request_id && `request id ${p.request_id}`,
  ].filter(Boolean);
  return h(
    'div',
    { class: 'error problem', 'data-problem-type': p.type },
    h('strong', {}, `${p.title} (${p.status})`),
    p.detail && h('span', {}, ` — ${p.detail}`),
    Array.isArray(p.errors) && p.errors.length > 0 &&
      h('ul', {}, p.errors.map((e) => h('li', {}, `${e.pointer ?? e.parameter ?? ''} ${e.detail}`.trim()))),
    facts.length > 0 && h('div', { class: 'hint' }, facts.join(' · ')),
  );
}
