import { randomUUID } from 'node:crypto';

/**
 * The id scheme of every model: a string `<prefix>_<uuid without dashes>`, e.g. `ws_3f0c…`, unless the caller
 * gives its own id (as the seed's example does with `ws_1`). Session ids are bare UUIDs (see session.ts).
 */
export const ID_PREFIXES = {
  Workspace: 'ws',
  Pipeline: 'pl',
  Client: 'cl',
  Connection: 'cn',
  User: 'usr',
  Notification: 'ntf',
  Contact: 'ct',
} as const;

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
