import { Command, Option } from 'clipanion';
import { checkStore, type Finding } from '../../state/check';
import { CtrError } from '../../util/errors';
import { renderOne } from '../../util/format';

/** "90s", "30m", "24h", "1h30m", "2d"; a bare number is seconds. */
export function parseDuration(v: string): number {
  if (/^[0-9]+$/.test(v)) return Number(v) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = v;
  while (rest) {
    const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) throw new CtrError(`invalid duration "${v}": use a number with a unit, e.g. 30m, 24h or 1h30m`);
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return total;
}

export class SystemCheckCommand extends Command {
  static override paths = [['system', 'check']];
  static override usage = Command.Usage({
    description: 'Check the container and image store for damage and leftovers',
    details:
      'Reports container records (container.json, state.json, exit.json) and image records (image.json, tags.json) that cannot be read, names that point to no container, container names missing from the names index, images whose layers are gone, layers and blobs that nothing uses, and what killed commands left behind (one line each, then a summary). `--repair` fixes what can be fixed safely: it rebuilds tags.json from the image records, image.json from the config blob and the layers, state.json from the running monitor, and removes what nothing uses; a damaged container that is running, or a damaged image that a container uses, is left alone unless `--force`. The exit status is 1 while problems remain.',
    examples: [
      ['Check', 'ctr system check'],
      ['Repair what is safe', 'ctr system check --repair'],
      ['Also remove damaged containers that run', 'ctr system check --repair --force'],
    ],
  });
  repair = Option.Boolean('-r,--repair', false, { description: 'Fix what can be fixed safely' });
  force = Option.Boolean('-f,--force', false, { description: 'With --repair: also remove damaged containers that run and damaged images in use' });
  quick = Option.Boolean('-q,--quick', false, { description: 'Skip the slower checks (blobs nothing uses)' });
  max = Option.String('-m,--max', { description: 'Report unused layers only when older than this (e.g. 24h)' });
  format = Option.String('--format', { description: 'json, or a Go template over each finding ({{.Kind}} {{.Subject}} {{.Problem}} {{.Action}} {{.Fixed}})' });

  async execute(): Promise<number> {
    if (this.force && !this.repair) throw new CtrError('--force only applies with --repair');
    const maxAgeMs = this.max === undefined ? 0 : parseDuration(this.max);
    const findings = await checkStore({ repair: this.repair, force: this.force, quick: this.quick, maxAgeMs });
    const remain = findings.filter((f) => !f.fixed).length;
    const out = this.context.stdout;
    if (this.format === 'json') {
      out.write(JSON.stringify(findings.map((f) => ({ kind: f.kind, subject: f.subject, problem: f.problem, action: f.action, fixed: f.fixed, path: f.path ?? '' })), null, 2) + '\n');
    } else if (this.format) {
      for (const f of findings) out.write(renderOne(this.format, capital(f)) + '\n');
    } else {
      for (const f of findings) out.write(`${f.kind} ${f.subject}: ${f.problem}: ${f.action}\n`);
      out.write(summary(findings.length, findings.length - remain, remain, this.repair) + '\n');
    }
    return remain ? 1 : 0;
  }
}

function capital(f: Finding): Record<string, unknown> {
  return { Kind: f.kind, Subject: f.subject, Problem: f.problem, Action: f.action, Fixed: f.fixed, Path: f.path ?? '' };
}

function summary(found: number, repaired: number, remain: number, repair: boolean): string {
  if (!found) return 'no problems found';
  const p = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;
  if (!repair) return `${p(found, 'problem', 'problems')} found; ctr system check --repair fixes what is safe`;
  return `${p(found, 'problem', 'problems')} found, ${repaired} repaired, ${p(remain, 'remains', 'remain')}`;
}
