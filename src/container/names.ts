import { randomInt } from '../util/random';

// Auto names in Docker's style ("adjective_surname"). Our own word lists.
const ADJECTIVES = [
  'agile', 'bold', 'brave', 'bright', 'calm', 'clever', 'cool', 'crisp', 'daring', 'eager',
  'elated', 'epic', 'fair', 'fervent', 'festive', 'fond', 'gallant', 'gentle', 'glad', 'happy',
  'hardy', 'honest', 'humble', 'jolly', 'keen', 'kind', 'lively', 'loyal', 'lucid', 'merry',
  'mellow', 'modest', 'neat', 'nimble', 'noble', 'patient', 'peaceful', 'plucky', 'polite', 'proud',
  'quick', 'quiet', 'quirky', 'rapid', 'ready', 'serene', 'sharp', 'shy', 'silent', 'sleepy',
  'smart', 'steady', 'stoic', 'sunny', 'swift', 'tender', 'tidy', 'vivid', 'warm', 'wise',
  'witty', 'zealous', 'zen', 'upbeat', 'trusty', 'stellar', 'spry', 'snappy', 'radiant', 'placid',
];
const SURNAMES = [
  'agnesi', 'archimedes', 'babbage', 'bardeen', 'bell', 'bohr', 'boole', 'cannon', 'carson', 'cerf',
  'curie', 'darwin', 'dijkstra', 'einstein', 'euclid', 'euler', 'faraday', 'fermat', 'fermi', 'feynman',
  'franklin', 'galileo', 'gauss', 'goodall', 'hamilton', 'hawking', 'hertz', 'hopper', 'hypatia', 'johnson',
  'joule', 'kepler', 'knuth', 'lamarr', 'lamport', 'leakey', 'liskov', 'lovelace', 'maxwell', 'meitner',
  'mendel', 'morse', 'newton', 'nobel', 'noether', 'pascal', 'pasteur', 'planck', 'poincare', 'ritchie',
  'sagan', 'shannon', 'somerville', 'tesla', 'thompson', 'torvalds', 'turing', 'volta', 'wiles', 'wozniak',
  'wright', 'yalow', 'yonath', 'zuse', 'ramanujan', 'raman', 'napier', 'kowalevski', 'heisenberg', 'chandrasekhar',
];

export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${SURNAMES[randomInt(SURNAMES.length)]}`;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** Returns an error message for an invalid container name, or undefined. */
export function invalidName(name: string): string | undefined {
  if (!NAME_RE.test(name)) return `invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`;
  if (name.length > 253) return `invalid container name "${name.slice(0, 20)}...": longer than 253 characters`;
  return undefined;
}
