/**
 * The operator chart, rendered with `helm template` (no cluster) and read back as YAML: what it
 * installs by default, what each value changes, that values.schema.json refuses bad values, that
 * the RBAC stays least-privilege, and that the CRDs it installs are crds/ exactly.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { HELM, run } from '../lib/kubectl.js';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const chart = `${repo}charts/leviathan-operator`;

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string }[];
  securityContext: Record<string, unknown>;
  ports: { name: string; containerPort: number }[];
}
interface Deployment extends Obj {
  spec: { replicas: number; template: { spec: { serviceAccountName: string; securityContext: Record<string, unknown>; containers: Container[] } } };
}

async function render(...set: string[]): Promise<Obj[]> {
  const res = await run(HELM, ['template', 'leviathan', chart, '--namespace', 'leviathan-system', ...set.flatMap((s) => ['--set', s])]);
  if (res.code !== 0) throw new Error(`helm template failed: ${res.stderr}`);
  return parseAllDocuments(res.stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
}

async function renderError(...set: string[]): Promise<string> {
  const res = await run(HELM, ['template', 'leviathan', chart, ...set.flatMap((s) => ['--set', s])]);
  expect(res.code, `helm template ${set.join(' ')} should fail`).not.toBe(0);
  return res.stderr;
}

const one = <T extends Obj>(objs: Obj[], kind: string, name?: string): T => {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `${kind} ${name ?? ''}`).toHaveLength(1);
  return found[0] as T;
};

const container = (objs: Obj[]): Container => one<Deployment>(objs, 'Deployment').spec.template.spec.containers[0]!;

describe('default render', () => {
  it('installs the CRDs, a ServiceAccount, RBAC, the Deployment and the metrics Service, and no PodMonitor', async () => {
    const objs = await render();
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
      [
        'ClusterRole/leviathan-leviathan-operator',
        'ClusterRoleBinding/leviathan-leviathan-operator',
        'CustomResourceDefinition/disheaptopics.leviathan.dev',
        'CustomResourceDefinition/leviathanclusters.leviathan.dev',
        'Deployment/leviathan-leviathan-operator',
        'Role/leviathan-leviathan-operator-leader-election',
        'RoleBinding/leviathan-leviathan-operator-leader-election',
        'Service/leviathan-leviathan-operator-metrics',
        'ServiceAccount/leviathan-leviathan-operator',
      ].sort(),
    );
    for (const o of objs.filter((o) => o.kind !== 'CustomResourceDefinition' && !o.kind.startsWith('Cluster'))) {
      expect(o.metadata.namespace, `${o.kind} namespace`).toBe('leviathan-system');
    }
  });

  it('runs the operator non-root, read-only, without capabilities, ready for leader election', async () => {
    const objs = await render();
    const dep = one<Deployment>(objs, 'Deployment');
    const c = container(objs);
    expect(c.image).toBe('leviathan/operator:0.1.0');
    expect(dep.spec.template.spec.serviceAccountName).toBe('leviathan-leviathan-operator');
    expect(dep.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(c.args).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--leader-election-namespace=leviathan-system',
        '--leader-election-id=leviathan-leviathan-operator',
        '--engine-image=leviathan/engine:0.1.0',
      ]),
    );
    expect(c.env.map((e) => e.name)).toEqual(expect.arrayContaining(['POD_NAME', 'POD_NAMESPACE']));
    const svc = one(objs, 'Service') as Obj & { spec: { ports: { targetPort: string }[] } };
    expect(svc.spec.ports[0]!.targetPort).toBe('metrics');
    expect(c.ports.map((p) => p.name)).toContain('metrics');
  });
});

describe('CRDs', () => {
  const crdFiles = readdirSync(`${repo}crds`).filter((f) => f.endsWith('.yaml'));

  it('the chart carries crds/ byte for byte (run `make chart-crds` after changing crds/)', () => {
    expect(readdirSync(`${chart}/files/crds`).sort()).toEqual(crdFiles.sort());
    for (const f of crdFiles) {
      expect(readFileSync(`${chart}/files/crds/${f}`, 'utf8'), `charts/leviathan-operator/files/crds/${f} differs from crds/${f}: run make chart-crds`).toBe(
        readFileSync(`${repo}crds/${f}`, 'utf8'),
      );
    }
  });

  it('renders each CRD exactly as crds/ has it, plus only the keep policy', async () => {
    const rendered = (await render()).filter((o) => o.kind === 'CustomResourceDefinition');
    expect(rendered).toHaveLength(crdFiles.length);
    for (const f of crdFiles) {
      const source = parse(readFileSync(`${repo}crds/${f}`, 'utf8')) as Obj;
      const got = structuredClone(rendered.find((o) => o.metadata.name === source.metadata.name)!);
      expect(got.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      delete got.metadata.annotations;
      expect(got, f).toEqual(source);
    }
  });

  it('crds.install=false leaves them out; crds.keep=false drops the keep policy', async () => {
    expect((await render('crds.install=false')).filter((o) => o.kind === 'CustomResourceDefinition')).toEqual([]);
    for (const crd of (await render('crds.keep=false')).filter((o) => o.kind === 'CustomResourceDefinition')) {
      expect(crd.metadata.annotations).toBeUndefined();
    }
  });
});

describe('RBAC', () => {
  it('grants no wildcard, no secrets, and leases only in the release namespace', async () => {
    const objs = await render();
    const cluster = one<Obj & { rules: Rule[] }>(objs, 'ClusterRole');
    for (const r of cluster.rules) {
      expect(r.verbs).not.toContain('*');
      expect(r.resources).not.toContain('*');
      expect(r.apiGroups).not.toContain('*');
      expect(r.resources).not.toContain('secrets');
      expect(r.resources).not.toContain('leases');
    }
    const podRule = cluster.rules.find((r) => r.resources.includes('pods'))!;
    expect(podRule.verbs.sort()).toEqual(['delete', 'get', 'list', 'watch']);
    const owned = cluster.rules.find((r) => r.resources.includes('leviathanclusters'))!;
    expect(owned.verbs).not.toContain('create');
    expect(owned.verbs).not.toContain('delete');
    const role = one<Obj & { rules: Rule[] }>(objs, 'Role');
    expect(role.metadata.namespace).toBe('leviathan-system');
    expect(role.rules.find((r) => r.resources.includes('leases'))!.apiGroups).toEqual(['coordination.k8s.io']);
  });

  it('watchNamespaces binds the ClusterRole in those namespaces only', async () => {
    const objs = await render('watchNamespaces={team-a,team-b}');
    expect(objs.filter((o) => o.kind === 'ClusterRoleBinding')).toEqual([]);
    const bindings = objs.filter((o) => o.kind === 'RoleBinding' && !o.metadata.name.endsWith('leader-election'));
    expect(bindings.map((b) => b.metadata.namespace).sort()).toEqual(['team-a', 'team-b']);
    expect(container(objs).args).toContain('--watch-namespaces=team-a,team-b');
  });

  it('leaderElection.enabled=false drops the Lease Role and passes --leader-elect=false', async () => {
    const objs = await render('leaderElection.enabled=false');
    expect(objs.filter((o) => o.kind === 'Role')).toEqual([]);
    expect(container(objs).args).toContain('--leader-elect=false');
  });

  it('rbac.create=false and serviceAccount.create=false render neither', async () => {
    const objs = await render('rbac.create=false', 'serviceAccount.create=false', 'serviceAccount.name=existing');
    expect(objs.filter((o) => /Role|ServiceAccount/.test(o.kind))).toEqual([]);
    expect(one<Deployment>(objs, 'Deployment').spec.template.spec.serviceAccountName).toBe('existing');
  });
});

describe('values', () => {
  it('podMonitor.enabled renders a PodMonitor on the metrics port', async () => {
    const pm = one<Obj & { spec: { podMetricsEndpoints: { port: string; interval: string }[] } }>(await render('podMonitor.enabled=true', 'podMonitor.interval=15s'), 'PodMonitor');
    expect(pm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(pm.spec.podMetricsEndpoints).toEqual([{ port: 'metrics', path: '/metrics', interval: '15s' }]);
  });

  it('image tags, replicas and metrics.enabled=false', async () => {
    const objs = await render('image.tag=dev', 'engineImage.tag=dev', 'replicaCount=2', 'metrics.enabled=false');
    expect(container(objs).image).toBe('leviathan/operator:dev');
    expect(container(objs).args).toContain('--engine-image=leviathan/engine:dev');
    expect(one<Deployment>(objs, 'Deployment').spec.replicas).toBe(2);
    expect(objs.filter((o) => o.kind === 'Service')).toEqual([]);
  });

  it('values.schema.json refuses wrong types, unknown keys and bad enums', async () => {
    expect(await renderError('replicaCount=-1')).toMatch(/replicaCount/);
    expect(await renderError('logLevel=loud')).toMatch(/logLevel/);
    expect(await renderError('crds.instal=true')).toMatch(/instal/);
    expect(await renderError('image.pullPolicy=Sometimes')).toMatch(/pullPolicy/);
    expect(await renderError('watchNamespaces={Not_A_Namespace}')).toMatch(/watchNamespaces/);
  });

  it('NOTES.txt tells how to create a database', async () => {
    // helm renders NOTES.txt only on install; a copy of the chart with one more template that
    // includes it shows it without a cluster.
    const dir = mkdtempSync(join(tmpdir(), 'chart-notes-'));
    cpSync(chart, dir, { recursive: true });
    writeFileSync(join(dir, 'templates', 'zz-notes.yaml'), 'notes: |\n{{ include (print $.Template.BasePath "/NOTES.txt") . | indent 2 }}\n');
    const res = await run(HELM, ['template', 'leviathan', dir, '--namespace', 'leviathan-system', '--show-only', 'templates/zz-notes.yaml']);
    rmSync(dir, { recursive: true, force: true });
    expect(res.code, res.stderr).toBe(0);
    const notes = (parse(res.stdout) as { notes: string }).notes;
    expect(notes).toContain('kind: LeviathanCluster');
    expect(notes).toContain('kubectl explain leviathancluster.spec');
    expect(notes).toContain('Watching: all namespaces.');
    expect(notes).toContain('kept on uninstall');
  });
});
