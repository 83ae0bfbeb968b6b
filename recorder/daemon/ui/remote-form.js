// The upload target's form, shared by the setup wizard and the settings page: the fields each
// kind of rclone remote takes, the `rclone authorize` command for the token kinds, and reading the
// form back as `{kind, fields, path}` (the recorder checks every field again).

import { el } from './format.js';

// [key, label, type] per kind.
const FIELDS = {
  webdav: [['url', 'Address (https://…/remote.php/dav/files/NAME for Nextcloud)', 'url'], ['vendor', 'Server', 'vendor'], ['user', 'User name'], ['pass', 'Password', 'password']],
  sftp: [['host', 'Server name or address'], ['port', 'Port (22)', 'number'], ['user', 'User name'], ['pass', 'Password', 'password']],
  s3: [['endpoint', 'Endpoint (https://…)', 'url'], ['provider', 'Provider (Minio, Wasabi, Other…)'], ['region', 'Region'], ['access_key_id', 'Access key'], ['secret_access_key', 'Secret key', 'password']],
  smb: [['host', 'Server name or address'], ['user', 'User name'], ['pass', 'Password', 'password'], ['domain', 'Domain (optional)']],
  drive: [['token', 'Token', 'token']],
  dropbox: [['token', 'Token', 'token']],
  onedrive: [['token', 'Token', 'token']],
};

// The commands that print a token, when the recorder's answer did not say.
const AUTHORIZE = { drive: 'rclone authorize "drive"', dropbox: 'rclone authorize "dropbox"', onedrive: 'rclone authorize "onedrive"' };

// The kinds a person can choose, in the order offered.
const KINDS = [
  ['webdav', 'WebDAV or Nextcloud'], ['sftp', 'SFTP server'], ['s3', 'S3-compatible storage'],
  ['smb', 'Windows share (SMB)'], ['drive', 'Google Drive'], ['dropbox', 'Dropbox'], ['onedrive', 'OneDrive'],
];

// Adds an option per kind to `select` (after the options it already has).
export function fillKinds(select) {
  select.append(...KINDS.map(([value, text]) => el('option', { value, text })));
}

function input(key, type) {
  if (type === 'vendor') {
    return el('select', { 'data-upload': key },
      el('option', { value: 'nextcloud', text: 'Nextcloud' }),
      el('option', { value: 'owncloud', text: 'ownCloud' }),
      el('option', { value: 'other', text: 'Other WebDAV' }));
  }
  if (type === 'token') {
    return el('textarea', { 'data-upload': key, rows: 4, spellcheck: 'false', autocapitalize: 'none' });
  }
  const kind = { password: 'password', number: 'number' }[type] || 'text';
  return el('input', { 'data-upload': key, type: kind, autocapitalize: 'none', spellcheck: 'false' });
}

// Fills `fields` with the inputs of `kind` and `help` with the authorize command, if any.
export function render(fields, help, kind, authorize = AUTHORIZE) {
  const nodes = (FIELDS[kind] || []).map(([key, label, type]) => el('label', {}, label, input(key, type)));
  if (kind) {
    nodes.push(el('label', {}, kind === 's3' ? 'Bucket and folder (my-bucket/moment)' : 'Folder on it',
      el('input', { 'data-upload-path': '', type: 'text', value: kind === 's3' ? '' : 'moment', autocapitalize: 'none' })));
  }
  fields.replaceChildren(...nodes);
  const command = authorize && authorize[kind];
  help.hidden = !command;
  if (command) {
    help.replaceChildren(
      'On a computer with a browser, install rclone and run:',
      el('code', { class: 'cmd', text: command }),
      'then paste the token it prints (the text in braces) here.');
  }
}

// `{kind, fields, path}` from the form, or null when no kind is chosen.
export function read(fields, kind) {
  if (!kind) return null;
  const values = {};
  for (const node of fields.querySelectorAll('[data-upload]')) {
    if (node.value.trim()) values[node.dataset.upload] = node.value.trim();
  }
  const path = fields.querySelector('[data-upload-path]');
  return { kind, fields: values, path: path ? path.value.trim() : '' };
}
