import { Command, type CommandClass } from 'clipanion';

/**
 * A quick parse of the common command lines of `run` and the life-cycle commands, without
 * clipanion's state machine.
 *
 * clipanion compiles a state machine over every option of a command on each invocation; for
 * `run` (some thirty options) that costs 5 to 15 ms of a cold start, more than the rest of
 * ctr's own work (1 to 2 ms for `stop` or `rm`). This parser handles the plain shapes only:
 * boolean flags (`--rm`, `-d`, bundled `-it`), options with one value (`--name x`,
 * `--name=x`, `-e X`), then either one required positional and the proxied rest (run: the
 * container's command) or a list of positionals (`stop A B`). Anything else (help, an unknown
 * or negated option, `--`, a value that looks like an option, an option after a positional
 * of a list, too few positionals, ...) returns undefined, and clipanion parses the line as
 * always, with its own messages.
 *
 * The command is built the way clipanion builds it: the same option objects, their own
 * transformers applied to a state of the same shape, so validators and defaults behave the
 * same. test/unit/fastparse.test.ts compares the two parsers on many command lines.
 */

interface OptionSpec {
  names: string[];
  arity: number;
  allowBinding: boolean;
}

interface Shape {
  options: Map<string, OptionSpec>;
  positional: boolean; // one required String positional
  proxy: boolean; // then everything else (Option.Proxy)
  proxyRequired: number; // at least this many words in it
  rest: number; // -1, or a list of at least this many positionals (Option.Rest)
}

interface ParseState {
  options: { name: string; value: unknown }[];
  positionals: { value: string; extra: boolean }[];
  path: string[];
}

type Spec = {
  definition: (builder: unknown, key: string) => void;
  transformer: (builder: unknown, key: string, state: ParseState, context: unknown) => unknown;
};

const shapes = new WeakMap<CommandClass, Shape | null>();

class Unsupported extends Error {}

/** What the command declares, recorded through a builder that accepts only the plain kinds. */
function shapeOf(cls: CommandClass, specs: [string, Spec][]): Shape | null {
  const cached = shapes.get(cls);
  if (cached !== undefined) return cached;
  const shape: Shape = { options: new Map(), positional: false, proxy: false, proxyRequired: 0, rest: -1 };
  const builder = {
    addOption(o: { names: string[]; arity?: number; allowBinding?: boolean; required?: boolean }) {
      const arity = o.arity ?? 0;
      if (arity > 1 || o.required) throw new Unsupported();
      const spec = { names: o.names, arity, allowBinding: o.allowBinding ?? true };
      for (const n of o.names) shape.options.set(n, spec);
    },
    addPositional(o: { required?: boolean } = {}) {
      if (o.required === false || shape.positional || shape.proxy || shape.rest >= 0) throw new Unsupported();
      shape.positional = true;
    },
    addProxy(o: { required?: number } = {}) {
      if (shape.proxy || shape.rest >= 0 || !shape.positional) throw new Unsupported();
      shape.proxy = true;
      shape.proxyRequired = o.required ?? 0;
    },
    addRest(o: { required?: number } = {}) {
      if (shape.positional || shape.proxy || shape.rest >= 0) throw new Unsupported();
      shape.rest = o.required ?? 0;
    },
  };
  let result: Shape | null = shape;
  try {
    for (const [key, spec] of specs) spec.definition(builder, key);
    if (!shape.positional && shape.rest < 0) result = null;
  } catch {
    result = null;
  }
  shapes.set(cls, result);
  return result;
}

function optionSpecs(command: Command): [string, Spec][] {
  const out: [string, Spec][] = [];
  const rec = command as unknown as Record<string, unknown>;
  for (const key in rec) {
    const v = rec[key] as Record<symbol, unknown> | null;
    if (typeof v === 'object' && v !== null && v[Command.isOption]) out.push([key, v as unknown as Spec]);
  }
  return out;
}

/** Parses argv (after the path words) into clipanion's state shape, or undefined. */
export function parseArgs(shape: Shape, args: string[]): { options: ParseState['options']; positionals: ParseState['positionals'] } | undefined {
  const options: ParseState['options'] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i]!;
    if (a === '-' || !a.startsWith('-')) break;
    if (a === '--' || a === '-h' || a === '--help') return undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(0, eq) : a;
      const spec = shape.options.get(name);
      if (!spec) return undefined;
      if (eq >= 0) {
        // a bound value: options with a value, and those that also stand alone (tolerateBoolean)
        if (!spec.allowBinding) return undefined;
        options.push({ name, value: a.slice(eq + 1) });
      } else if (spec.arity === 0) {
        options.push({ name, value: true });
      } else {
        const v = args[++i];
        if (v === undefined || v.startsWith('-')) return undefined;
        options.push({ name, value: v });
      }
      continue;
    }
    // short options: -d, -e VALUE, or a bundle of flags (-it)
    if (a.length === 2) {
      const spec = shape.options.get(a);
      if (!spec) return undefined;
      if (spec.arity === 0) options.push({ name: a, value: true });
      else {
        const v = args[++i];
        if (v === undefined || v.startsWith('-')) return undefined;
        options.push({ name: a, value: v });
      }
      continue;
    }
    for (const c of a.slice(1)) {
      const spec = shape.options.get(`-${c}`);
      if (!spec || spec.arity !== 0) return undefined;
      options.push({ name: `-${c}`, value: true });
    }
  }
  if (shape.rest >= 0) {
    // a list: positionals only from here on
    const list = args.slice(i);
    if (list.length < shape.rest || list.some((a) => a.startsWith('-'))) return undefined;
    return { options, positionals: list.map((value) => ({ value, extra: false })) };
  }
  if (i >= args.length || args[i] === '-') return undefined; // no positional: clipanion says so
  const positionals = [{ value: args[i]!, extra: false }];
  const rest = args.slice(i + 1);
  if ((rest.length && !shape.proxy) || rest.length < shape.proxyRequired) return undefined;
  for (const value of rest) positionals.push({ value, extra: true });
  return { options, positionals };
}

/**
 * The command for `argv` when `cls` (one of its paths starting argv) can be parsed quickly,
 * else undefined.
 */
export function fastProcess(cls: CommandClass, argv: string[], context: unknown): Command | undefined {
  const path = (cls.paths ?? []).filter((p) => p.length > 0 && p.every((w, i) => argv[i] === w)).sort((a, b) => b.length - a.length)[0];
  if (!path) return undefined;
  const command = new (cls as unknown as new () => Command)();
  const specs = optionSpecs(command);
  const shape = shapeOf(cls, specs);
  if (!shape) return undefined;
  const parsed = parseArgs(shape, argv.slice(path.length));
  if (!parsed) return undefined;
  const state: ParseState = { options: parsed.options, positionals: parsed.positionals, path };
  command.context = context as Command['context'];
  command.path = path;
  // Option.Rest counts the positionals the builder declared as leading: all of them here
  const builder = { arity: { leading: { length: state.positionals.length } } };
  const rec = command as unknown as Record<string, unknown>;
  for (const [key, spec] of specs) rec[key] = spec.transformer(builder, key, state, context);
  return command;
}
