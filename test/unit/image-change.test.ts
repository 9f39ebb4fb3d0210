import { describe, expect, it } from 'vitest';
import { applyChanges, splitWords } from '../../src/image/change';

describe('--change', () => {
  it('CMD and ENTRYPOINT: exec and shell forms', () => {
    expect(applyChanges({}, ['CMD ["a","b c"]']).Cmd).toEqual(['a', 'b c']);
    expect(applyChanges({}, ['CMD echo $HOME']).Cmd).toEqual(['/bin/sh', '-c', 'echo $HOME']);
    expect(applyChanges({}, ['ENTRYPOINT ["/bin/x"]']).Entrypoint).toEqual(['/bin/x']);
    expect(applyChanges({}, ['CMD=["sh"]']).Cmd).toEqual(['sh']);
  });
  it('ENV and LABEL with quotes, legacy form, replacement', () => {
    const c = applyChanges({ Env: ['A=0', 'PATH=/bin'] }, ['ENV A=1 B="two words" C=\'x y\'', 'ENV D some value']);
    expect(c.Env).toEqual(['A=1', 'PATH=/bin', 'B=two words', 'C=x y', 'D=some value']);
    expect(applyChanges({}, ['LABEL a=b "c d"=e']).Labels).toEqual({ a: 'b', 'c d': 'e' });
  });
  it('EXPOSE, VOLUME, WORKDIR, USER, STOPSIGNAL, ONBUILD', () => {
    const c = applyChanges({}, ['EXPOSE 80 53/udp 8000-8001', 'VOLUME ["/data"]', 'VOLUME /a /b', 'WORKDIR /srv', 'WORKDIR app', 'USER app:app', 'STOPSIGNAL SIGINT', 'ONBUILD RUN x']);
    expect(c.ExposedPorts).toEqual({ '80/tcp': {}, '53/udp': {}, '8000/tcp': {}, '8001/tcp': {} });
    expect(c.Volumes).toEqual({ '/data': {}, '/a': {}, '/b': {} });
    expect(c.WorkingDir).toBe('/srv/app');
    expect(c.User).toBe('app:app');
    expect(c.StopSignal).toBe('SIGINT');
    expect(c.OnBuild).toEqual(['RUN x']);
  });
  it('refuses unknown instructions and bad arguments', () => {
    expect(() => applyChanges({}, ['FROM x'])).toThrow(/FROM is not supported/);
    expect(() => applyChanges({}, ['EXPOSE http'])).toThrow(/not a port/);
    expect(() => applyChanges({}, ['EXPOSE 70000'])).toThrow(/out of range/);
    expect(() => applyChanges({}, ['VOLUME rel'])).toThrow(/absolute/);
    expect(() => applyChanges({}, ['ENV'])).toThrow(/needs an argument/);
    expect(() => applyChanges({}, ['ENV A="x'])).toThrow(/unterminated quote/);
  });
  it('splitWords', () => expect(splitWords(`a "b c" 'd e' f\\ g`)).toEqual(['a', 'b c', 'd e', 'f g']));
});
