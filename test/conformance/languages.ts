/**
 * The languages of the conformance suite: for each, the Debian packages it needs, how its code is
 * generated from idl/lock_service.thrift and compiled (once per run, into a scratch directory),
 * the stacks its runtime has, and the command that runs its client (clients/<name>/).
 *
 * Every client takes the same five last arguments: HOST PORT TRANSPORT PROTOCOL KEY_PREFIX.
 */
import fs from 'node:fs';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const IDL = path.join(ROOT, 'idl/lock_service.thrift');
const CLIENTS = path.join(__dirname, 'clients');

/** One transport + protocol pair, as lockd's --transport and --protocol flags name them. */
export interface Stack {
  transport: 'buffered' | 'framed';
  protocol: 'binary' | 'compact';
}
export const BUFFERED_BINARY: Stack = { transport: 'buffered', protocol: 'binary' };
export const FRAMED_COMPACT: Stack = { transport: 'framed', protocol: 'compact' };
export const FRAMED_BINARY: Stack = { transport: 'framed', protocol: 'binary' };
export const stackName = (stack: Stack) => `${stack.transport}+${stack.protocol}`;

/** A step of a build: a command run to completion in `cwd`, failing the build when it fails. */
export interface Step {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Fail when it prints anything on stderr: generated code must load without a warning. */
  silent?: boolean;
}

export interface Language {
  name: string;
  /** Debian packages the language needs beyond thrift-compiler (all are in .ci/conformance-packages). */
  packages: string[];
  /** Transport + protocol pairs its runtime offers, among those lockd speaks. */
  stacks: Stack[];
  /** Prepares `dir` (an empty scratch directory) and returns the steps that generate and compile. */
  build(dir: string): Step[];
  /** The client's command line, before the five common arguments. */
  client(dir: string): { command: string; args: string[]; env?: NodeJS.ProcessEnv };
}

const thriftGen = (generator: string, out: string): Step => ({ command: 'thrift', args: ['--gen', generator, '-out', out, IDL] });
/** Debian's interpreter: python3-thrift and python3-thriftpy are installed for it, not for other pythons on PATH. */
const PYTHON = '/usr/bin/python3';
const PYTHON_ENV = { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' };
const mkdir = (dir: string) => {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
};
/** Debian's libthrift-java jar; its manifest's Class-Path names its dependencies (slf4j, commons-lang3...). */
const JAVA_CLASSPATH = ['/usr/share/java/thrift.jar', '/usr/share/java/slf4j-nop.jar'];
/** Debian's golang-thrift-dev source tree, used as a second GOPATH entry (no network, no module proxy). */
const DEBIAN_GOPATH = '/usr/share/gocode';

export const LANGUAGES: Language[] = [
  {
    name: 'node',
    // The generated gen-nodejs stubs on the npm thrift runtime (a dependency): nothing from Debian.
    packages: [],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: () => [{ command: process.execPath, args: ['-e', `require(${JSON.stringify(path.join(ROOT, 'gen-nodejs/LockService'))})`], silent: true }],
    client: () => ({ command: process.execPath, args: [path.join(CLIENTS, 'node/conformance.js')] }),
  },
  {
    name: 'python',
    packages: ['python3-thrift'],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: (dir) => [
      thriftGen('py', mkdir(path.join(dir, 'gen'))),
      { command: PYTHON, args: ['-W', 'error', '-c', 'import sys; sys.path.insert(0, sys.argv[1]); import lockservice.LockService', path.join(dir, 'gen')], env: PYTHON_ENV, silent: true },
    ],
    client: (dir) => ({ command: PYTHON, args: [path.join(CLIENTS, 'python/conformance.py'), path.join(dir, 'gen')], env: PYTHON_ENV }),
  },
  {
    name: 'thriftpy',
    packages: ['python3-thriftpy'],
    // Debian's ThriftPy 0.3.9 compact protocol calls array.tostring(), gone since Python 3.9.
    stacks: [BUFFERED_BINARY, FRAMED_BINARY],
    // ThriftPy has no generated code: it parses the IDL when the client loads it.
    build: () => [{ command: PYTHON, args: ['-c', 'import sys, thriftpy; thriftpy.load(sys.argv[1], module_name="lock_service_thrift")', IDL], env: PYTHON_ENV, silent: true }],
    client: () => ({ command: PYTHON, args: [path.join(CLIENTS, 'thriftpy/conformance.py'), IDL], env: PYTHON_ENV }),
  },
  {
    name: 'java',
    packages: ['openjdk-17-jdk-headless', 'libthrift-java', 'libslf4j-java'],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: (dir) => {
      const gen = mkdir(path.join(dir, 'gen'));
      const sources = [path.join(CLIENTS, 'java/Conformance.java')];
      return [
        thriftGen('java', gen),
        // javac needs the generated file names, known only after generation: a shell lists them.
        {
          command: 'sh',
          args: ['-c', 'javac -nowarn -encoding UTF-8 -cp "$1" -d "$2" $(find "$3" -name "*.java") "$4"', 'javac', JAVA_CLASSPATH.join(':'), mkdir(path.join(dir, 'classes')), gen, ...sources],
        },
      ];
    },
    client: (dir) => ({ command: 'java', args: ['-cp', [path.join(dir, 'classes'), ...JAVA_CLASSPATH].join(':'), 'Conformance'] }),
  },
  {
    name: 'go',
    packages: ['golang-go', 'golang-thrift-dev'],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: (dir) => {
      const src = mkdir(path.join(dir, 'gopath/src'));
      fs.mkdirSync(path.join(src, 'conformance'));
      fs.copyFileSync(path.join(CLIENTS, 'go/main.go'), path.join(src, 'conformance/main.go'));
      return [
        // namespace go lockd: the package lands in gopath/src/lockd, imported as "lockd".
        { command: 'thrift', args: ['--gen', 'go:skip_remote', '-out', src, IDL] },
        { command: 'go', args: ['build', '-o', path.join(dir, 'conformance'), 'conformance'], env: goEnv(dir) },
      ];
    },
    client: (dir) => ({ command: path.join(dir, 'conformance'), args: [] }),
  },
  {
    name: 'cpp',
    packages: ['g++', 'libthrift-dev', 'libboost-dev'],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: (dir) => {
      const gen = mkdir(path.join(dir, 'gen'));
      return [
        thriftGen('cpp', gen),
        {
          command: 'g++',
          args: ['-std=c++17', '-O0', '-I', gen, path.join(gen, 'LockService.cpp'), path.join(gen, 'lock_service_types.cpp'), path.join(CLIENTS, 'cpp/conformance.cpp'), '-lthrift', '-o', path.join(dir, 'conformance')],
        },
      ];
    },
    client: (dir) => ({ command: path.join(dir, 'conformance'), args: [] }),
  },
  {
    name: 'ruby',
    packages: ['ruby', 'ruby-thrift'],
    stacks: [BUFFERED_BINARY, FRAMED_COMPACT],
    build: (dir) => [
      thriftGen('rb', mkdir(path.join(dir, 'gen'))),
      // Not -w: Debian's runtime itself warns then (its native extension redefines methods).
      { command: 'ruby', args: ['-I', path.join(dir, 'gen'), '-e', 'require "lock_service"'], silent: true },
    ],
    client: (dir) => ({ command: 'ruby', args: ['-I', path.join(dir, 'gen'), path.join(CLIENTS, 'ruby/conformance.rb')] }),
  },
  {
    name: 'perl',
    // libthrift-perl does not declare these two it needs: Class::Accessor (generated structs), Bit::Vector (BinaryProtocol).
    packages: ['libthrift-perl', 'libclass-accessor-perl', 'libbit-vector-perl'],
    // Debian's Perl runtime has no compact protocol.
    stacks: [BUFFERED_BINARY, FRAMED_BINARY],
    build: (dir) => [
      thriftGen('perl', mkdir(path.join(dir, 'gen'))),
      // -w: loading must print nothing (a parameter named like the generated code's own variable warned here once).
      { command: 'perl', args: ['-w', '-I', path.join(dir, 'gen'), '-e', 'use Thrift::BinaryProtocol; use Thrift::Socket; use Lockd::LockService;'], silent: true },
    ],
    client: (dir) => ({ command: 'perl', args: ['-w', '-I', path.join(dir, 'gen'), path.join(CLIENTS, 'perl/conformance.pl')] }),
  },
];

/** GOPATH mode against Debian's source: no module download can happen. */
function goEnv(dir: string): NodeJS.ProcessEnv {
  return {
    GO111MODULE: 'off',
    GOPATH: `${path.join(dir, 'gopath')}:${DEBIAN_GOPATH}`,
    GOCACHE: path.join(dir, 'gocache'),
    GOFLAGS: '',
    GOPROXY: 'off',
  };
}
