import { formatPortsColumn } from '../../network/ports';
import { Command, Option } from 'clipanion';
import { listContainerRecords } from '../../container/store';
import { runtimeState, type RuntimeState } from '../../container/state';
import type { ContainerRecord } from '../../container/types';
import { goTime, humanDuration, humanSize, renderRows } from '../../util/format';
import { CtrError } from '../../util/errors';
import { resolveImage } from '../../image/store';
import { containerSizes } from '../../container/size';

/** STATUS of a container; a damaged record says so first ("Damaged (Up 2 minutes)"). */
export function psStatus(rec: ContainerRecord, st: RuntimeState, now = Date.now()): string {
  return rec.damaged ? `Damaged (${statusText(st, now)})` : statusText(st, now);
}

export function statusText(st: RuntimeState, now = Date.now()): string {
  switch (st.status) {
    case 'created':
      return 'Created';
    case 'running':
      return `Up ${humanDuration(now - Date.parse(st.startedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(st.startedAt))} (Paused)`;
    case 'exited':
      return `Exited (${st.exitCode}) ${humanDuration(now - Date.parse(st.finishedAt))} ago`;
  }
}

export function commandText(rec: ContainerRecord, noTrunc: boolean): string {
  const full = [rec.path, ...rec.args].join(' ');
  if (noTrunc || full.length <= 20) return `"${full}"`;
  return `"${full.slice(0, 19)}…"`;
}

const HEADERS: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', RunningFor: 'CREATED', CreatedAt: 'CREATED AT',
  Status: 'STATUS', Ports: 'PORTS', Names: 'NAMES', Size: 'SIZE', State: 'STATE', Labels: 'LABELS', Mounts: 'MOUNTS',
  Networks: 'NETWORKS', Pid: 'PID',
};

interface Filter {
  key: string;
  value: string;
}

function parseFilters(list: string[]): Filter[] {
  return list.map((f) => {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new CtrError(`invalid filter "${f}": use KEY=VALUE`);
    const key = f.slice(0, eq);
    if (!['name', 'status', 'label', 'ancestor', 'id', 'exited'].includes(key))
      throw new CtrError(`invalid filter "${f}": known keys are name, status, label, ancestor, id, exited`);
    const value = f.slice(eq + 1);
    if (key === 'status' && !['created', 'running', 'paused', 'exited', 'restarting', 'removing', 'dead'].includes(value))
      throw new CtrError(`invalid filter "${f}": status is one of created, running, paused, exited`);
    return { key, value };
  });
}

/** "busybox", "docker.io/library/busybox:latest" and "busybox:latest" are one name. */
function normalizeRef(ref: string): string {
  let r = ref.replace(/^docker\.io\//, '').replace(/^library\//, '');
  if (!r.includes('@') && !/:[^/]*$/.test(r)) r += ':latest';
  return r;
}

const ancestorIds = new Map<string, string | undefined>();
/** Docker's ancestor=: the image (name, ID or ID prefix) the container was created from. */
function ancestorMatches(rec: ContainerRecord, v: string): boolean {
  if (!ancestorIds.has(v)) {
    let id: string | undefined;
    try {
      id = resolveImage(v).image.id;
    } catch {
      id = undefined; // an image that is gone: names and ID prefixes still match
    }
    ancestorIds.set(v, id);
  }
  const id = ancestorIds.get(v);
  if (id !== undefined && rec.image === id) return true;
  if (normalizeRef(rec.imageName) === normalizeRef(v)) return true;
  const hex = v.replace(/^sha256:/, '');
  return /^[0-9a-f]{4,64}$/.test(hex) && rec.image.replace(/^sha256:/, '').startsWith(hex);
}

function matches(rec: ContainerRecord, st: RuntimeState, filters: Filter[]): boolean {
  // Filters with the same key are ORed, different keys ANDed; label filters are all required (Docker).
  const byKey = new Map<string, string[]>();
  for (const f of filters) byKey.set(f.key, [...(byKey.get(f.key) ?? []), f.value]);
  for (const [key, values] of byKey) {
    const ok = values[key === 'label' ? 'every' : 'some']((v) => {
      switch (key) {
        case 'name':
          try {
            return new RegExp(v).test(rec.name);
          } catch {
            return rec.name.includes(v);
          }
        case 'status':
          return st.status === v;
        case 'id':
          return rec.id.startsWith(v);
        case 'exited':
          return st.status === 'exited' && String(st.exitCode) === v;
        case 'ancestor':
          return ancestorMatches(rec, v);
        case 'label': {
          const labels = (rec.config.Labels ?? {}) as Record<string, string>;
          const eq = v.indexOf('=');
          return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
        }
      }
      return false;
    });
    if (!ok) return false;
  }
  return true;
}

/** The image of a damaged record (known by ID from its bundle): its first name, else the short ID. */
function damagedImageName(rec: ContainerRecord): string {
  if (!rec.image) return '';
  try {
    return resolveImage(rec.image).image.repoTags[0] ?? rec.imageName;
  } catch {
    return rec.imageName;
  }
}

const imageSizes = new Map<string, number>();
/** Unpacked size of the container's image (0 when the image is gone). */
function imageSize(id: string): number {
  if (!imageSizes.has(id)) {
    let size = 0;
    try {
      size = resolveImage(id).image.size;
    } catch {
      /* removed with rmi -f */
    }
    imageSizes.set(id, size);
  }
  return imageSizes.get(id)!;
}

export class PsCommand extends Command {
  static override paths = [['ps'], ['container', 'ls'], ['container', 'list'], ['container', 'ps']];
  static override usage = Command.Usage({ description: 'List containers' });
  all = Option.Boolean('-a,--all', false, { description: 'Show all containers (default shows just running)' });
  quiet = Option.Boolean('-q,--quiet', false, { description: 'Only display container IDs' });
  last = Option.String('-n,--last', { description: 'Show the n last created containers' });
  latest = Option.Boolean('-l,--latest', false, { description: 'Show the latest created container' });
  noTrunc = Option.Boolean('--no-trunc', false, { description: 'Do not truncate output' });
  size = Option.Boolean('-s,--size', false, { description: 'Display total file sizes' });
  filter = Option.Array('-f,--filter', [], { description: 'Filter output (name=, status=, label=, ancestor=, id=)' });
  format = Option.String('--format', { description: 'Format output: table, json, or a Go template' });

  async execute(): Promise<number> {
    const filters = parseFilters(this.filter ?? []);
    let n: number | undefined;
    if (this.last !== undefined) {
      if (!/^-?[0-9]+$/.test(this.last)) throw new CtrError(`invalid -n value "${this.last}": give a number`);
      n = Number(this.last);
      if (n < 0) n = undefined;
    }
    if (this.latest) n = 1;
    let items = listContainerRecords()
      .map((rec) => ({ rec, st: runtimeState(rec) }))
      .sort((a, b) => (a.rec.created < b.rec.created ? 1 : a.rec.created > b.rec.created ? -1 : 0));
    const showAll = this.all || n !== undefined || filters.some((f) => f.key === 'status' || f.key === 'exited');
    items = items.filter(({ rec, st }) => (showAll || st.status === 'running' || st.status === 'paused') && matches(rec, st, filters));
    if (n !== undefined) items = items.slice(0, n);
    if (this.quiet) {
      this.context.stdout.write(items.map((i) => (this.noTrunc ? i.rec.id : i.rec.id.slice(0, 12)) + '\n').join(''));
      return 0;
    }
    const sizes = this.size || (this.format ?? '').includes('.Size') ? containerSizes(items.map((i) => i.rec)) : undefined;
    const now = Date.now();
    const rows = items.map(({ rec, st }) => ({
      ID: this.noTrunc ? rec.id : rec.id.slice(0, 12),
      Image: rec.damaged ? damagedImageName(rec) : rec.imageName,
      ImageID: rec.image,
      Command: commandText(rec, this.noTrunc),
      CreatedAt: goTime(rec.created),
      RunningFor: `${humanDuration(now - Date.parse(rec.created))} ago`,
      Status: psStatus(rec, st, now),
      State: st.status,
      Ports: formatPortsColumn(Object.keys((rec.config.ExposedPorts ?? {}) as object), st.status === 'running' || st.status === 'paused' ? st.ports : undefined),
      Names: rec.name,
      Labels: Object.entries((rec.config.Labels ?? {}) as Record<string, string>).map(([k, v]) => `${k}=${v}`).join(','),
      Mounts: rec.mounts.map((m) => m.Destination).join(','),
      Networks: String(rec.hostConfig.NetworkMode ?? ''),
      Pid: st.pid,
      ExitCode: st.exitCode,
      // Docker's "RW (virtual RW+IMAGE)"
      Size: sizes ? `${humanSize(sizes.get(rec.id) ?? 0)} (virtual ${humanSize((sizes.get(rec.id) ?? 0) + imageSize(rec.image))})` : '',
    }));
    const table = this.size
      ? 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Size}}'
      : 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
    this.context.stdout.write(renderRows(this.format, rows, { defaultTable: table.slice(6), headers: HEADERS }));
    return 0;
  }
}
