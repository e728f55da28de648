import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../media-node/src/config-file.js";

// infra/node/install.sh only ever runs here with --dry-run: it prints its plan (commands, files
// with their content) and changes nothing. SORA_SFU_INSTALL_ROOT points its state checks
// (installed packages, the service user, existing files) at a fake root, so each plan is
// deterministic and a re-run over a finished install can be simulated.

const SCRIPT = "infra/node/install.sh";
const NODE_SECRET = "node-secret-0123456789abcdef";
const TURN_SECRET = "turn-secret-0123456789abcdef";
const REDACTED = "<redacted>";
const scratch = mkdtempSync(join(tmpdir(), "install-script-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

interface Plan {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Files the plan writes: path → content (secrets redacted), mode, owner. */
  files: Map<string, { content: string; mode: string; owner: string }>;
  /** Commands it runs ("+ …" lines, without the "+ "). */
  commands: string[];
}

let roots = 0;
function emptyRoot(): string {
  const root = join(scratch, `root-${roots++}`);
  mkdirSync(root, { recursive: true });
  return root;
}

function plan(args: string[], root = emptyRoot()): Plan {
  const r = spawnSync("bash", [SCRIPT, "--dry-run", ...args], {
    encoding: "utf8",
    env: { ...process.env, SORA_SFU_INSTALL_ROOT: root },
  });
  const files = new Map<string, { content: string; mode: string; owner: string }>();
  for (const m of r.stdout.matchAll(/^--- write (\S+) \(mode (\d+), owner (\S+)\)\n([\s\S]*?)\n--- end \1$/gm)) {
    files.set(m[1]!, { mode: m[2]!, owner: m[3]!, content: m[4]! });
  }
  const commands = r.stdout.split("\n").filter((l) => l.startsWith("+ ")).map((l) => l.slice(2));
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, files, commands };
}

/** A fake root that looks like a VM after a real install with this plan (and the given binaries). */
function rootAfter(p: Plan, binaries: Record<string, string>): string {
  const root = emptyRoot();
  for (const [name, version] of Object.entries(binaries)) {
    const path = join(root, "usr/bin", name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `#!/bin/sh\necho ${version}\n`);
    chmodSync(path, 0o755);
  }
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/passwd"), "root:x:0:0::/root:/bin/bash\nsora-sfu:x:998:998::/opt/sora-sfu:/usr/sbin/nologin\n");
  for (const [path, file] of p.files) {
    const secret = path.endsWith("node.env") ? NODE_SECRET : TURN_SECRET;
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), file.content.replaceAll(REDACTED, secret) + "\n");
  }
  return root;
}

const full = [
  "--edge-url", "wss://edge.example.com/node",
  "--node-secret", NODE_SECRET,
  "--node-name", "node-01@10.0.0.5",
  "--private-ip", "10.0.0.5",
  "--public-ip", "203.0.113.7",
  "--turn", "on",
  `--turn-secret=${TURN_SECRET}`,
  "--turn-realm", "example.com",
  "--auth-webhook-url", "https://app.example.com/sora/auth",
];

describe("fresh VM, TURN on behind 1:1 NAT", () => {
  const p = plan(full);

  it("succeeds and installs the missing Debian packages after apt-get update", () => {
    expect(p.code, p.stderr).toBe(0);
    const update = p.commands.indexOf("apt-get update");
    const install = p.commands.findIndex((c) => c.includes("apt-get install"));
    expect(update).toBeGreaterThanOrEqual(0);
    expect(install).toBeGreaterThan(update);
    expect(p.commands[install]).toMatch(/apt-get install -y --no-install-recommends nodejs npm coturn$/);
    expect(p.commands).toContain("systemctl disable --now coturn.service");
    expect(p.commands.find((c) => c.startsWith("useradd"))).toMatch(/--system .*sora-sfu$/);
  });

  it("installs the app from this checkout with npm ci --omit=dev, swapped in only when it changed", () => {
    expect(p.stdout).toMatch(/^\+ tar -C \S+ --exclude=\.\/node_modules .*\| tar -C \/opt\/sora-sfu\.new /m);
    expect(p.stdout).toMatch(/^\? cd \/opt\/sora-sfu\.new && npm ci --omit=dev .*\(if the staged tree differs/m);
  });

  it("writes a node.json the node's own loader accepts, with the flags' values", async () => {
    const file = p.files.get("/etc/sora-sfu/node.json")!;
    expect(file).toMatchObject({ mode: "0640", owner: "root:sora-sfu" });
    const json = JSON.parse(file.content);
    expect(json).toMatchObject({
      node_name: "node-01@10.0.0.5",
      host: "10.0.0.5",
      port: 5000,
      ice_addresses: ["10.0.0.5"],
      udp_port: 5000,
      announced_address: "203.0.113.7",
      external_signaling_url: "ws://203.0.113.7:5000/signaling",
      edge_url: "wss://edge.example.com/node",
      auth_webhook_url: "https://app.example.com/sora/auth",
      turn: { spawn: false, listen_ip: "10.0.0.5", external_ip: "203.0.113.7", relay_ip: "10.0.0.5", realm: "example.com", shared_secret: REDACTED },
    });
    const path = join(scratch, "node.json");
    writeFileSync(path, file.content.replace(REDACTED, TURN_SECRET));
    const config = await loadConfigFile(path);
    expect(config).toMatchObject({ udpPort: 5000, announcedAddress: "203.0.113.7", iceAddresses: ["10.0.0.5"] });
    expect(config.turn).toMatchObject({ spawn: false, externalHost: "203.0.113.7", sharedSecret: TURN_SECRET, minPort: 49160, maxPort: 49999 });
  });

  it("keeps the node secret in a root-only env file and never prints a secret", () => {
    const env = p.files.get("/etc/sora-sfu/node.env")!;
    expect(env).toMatchObject({ mode: "0600", owner: "root:root" });
    expect(env.content.split("\n")).toContain(`NODE_SECRET=${REDACTED}`);
    expect(p.stdout).not.toContain(NODE_SECRET);
    expect(p.stdout).not.toContain(TURN_SECRET);
  });

  it("fills turnserver.conf: NAT mapping, relays only to the node, same secret", () => {
    const conf = p.files.get("/etc/sora-sfu/turnserver.conf")!;
    expect(conf).toMatchObject({ mode: "0640", owner: "root:turnserver" });
    const lines = conf.content.split("\n");
    for (const line of ["listening-ip=10.0.0.5", "relay-ip=10.0.0.5", "external-ip=203.0.113.7/10.0.0.5", "realm=example.com", `static-auth-secret=${REDACTED}`, "allowed-peer-ip=10.0.0.5", "allowed-peer-ip=203.0.113.7", "denied-peer-ip=0.0.0.0-255.255.255.255"]) {
      expect(lines).toContain(line);
    }
    expect(conf.content).not.toMatch(/@[A-Z_]+@/);
    expect(lines.filter((l) => l.startsWith("allow-loopback-peers"))).toEqual([]);
  });

  it("installs both units, the node's tied to coturn, its config and env file where it writes them", () => {
    const unit = p.files.get("/etc/systemd/system/sora-sfu-node.service")!.content;
    expect(unit).toContain("Requires=sora-sfu-coturn.service");
    expect(unit).toContain("WorkingDirectory=/opt/sora-sfu\n");
    expect(unit).toContain("EnvironmentFile=-/etc/sora-sfu/node.env");
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node --import tsx media-node\/src\/main\.ts --config \/etc\/sora-sfu\/node\.json$/m);
    expect(p.files.get("/etc/systemd/system/sora-sfu-coturn.service")!.content).toContain("ExecStart=/usr/bin/turnserver -c /etc/sora-sfu/turnserver.conf");
    const reload = p.commands.indexOf("systemctl daemon-reload");
    expect(reload).toBeGreaterThan(0);
    expect(p.commands.indexOf("systemctl enable sora-sfu-coturn.service sora-sfu-node.service")).toBeGreaterThan(reload);
    expect(p.commands.slice(-2)).toEqual(["systemctl restart sora-sfu-coturn.service", "systemctl restart sora-sfu-node.service"]);
  });

  it("opens no port itself and lists the ones to open", () => {
    expect(p.commands.filter((c) => /\b(ufw|iptables|nft|firewall-cmd)\b/.test(c))).toEqual([]);
    expect(p.stdout).toContain("#   tcp 5000 ");
    expect(p.stdout).toContain("#   udp+tcp 3478 ");
    expect(p.stdout).toContain("#   udp 49160-49999 ");
    expect(p.stdout).toContain("#   udp 5000 from clients: the node's ICE port (every connection, announced as 203.0.113.7)");
  });

  it("a re-run over the finished install changes nothing and keeps both secrets", () => {
    const root = rootAfter(p, { node: "v20.19.2", npm: "10.8.2", turnserver: "4.6.1" });
    const again = plan(full.filter((a, i) => a !== NODE_SECRET && full[i + 1] !== NODE_SECRET && !a.startsWith("--turn-secret")), root);
    expect(again.code, again.stderr).toBe(0);
    expect(again.commands.filter((c) => c.includes("apt-get") || c.startsWith("useradd"))).toEqual([]);
    expect(again.stdout).toContain("= node v20.19.2 at /usr/bin/node");
    expect(again.stdout).toContain("= user sora-sfu exists");
    expect(again.stdout).toContain("# node secret: kept from /etc/sora-sfu/node.env");
    expect(again.stdout).toContain("# TURN secret: kept from /etc/sora-sfu/turnserver.conf");
    expect([...again.files.keys()]).toEqual([]);
    for (const path of p.files.keys()) expect(again.stdout).toContain(`= ${path} unchanged`);
    expect(again.commands).not.toContain("systemctl daemon-reload");
    expect(again.commands).toContain("systemctl start sora-sfu-coturn.service");
    expect(again.stdout).toMatch(/^\? systemctl restart sora-sfu-node\.service +\(if the application/m);

    // A changed flag rewrites exactly the files it is in and restarts what reads them.
    const moved = plan(full.map((a) => (a === "203.0.113.7" ? "203.0.113.8" : a)), root);
    expect([...moved.files.keys()].sort()).toEqual(["/etc/sora-sfu/node.json", "/etc/sora-sfu/turnserver.conf"]);
    expect(moved.commands).not.toContain("systemctl daemon-reload");
    expect(moved.commands.slice(-2)).toEqual(["systemctl restart sora-sfu-coturn.service", "systemctl restart sora-sfu-node.service"]);
  });

  it("turning TURN off later removes coturn's unit and config", () => {
    const root = rootAfter(p, { node: "v22.3.0", npm: "10.8.2", turnserver: "4.6.1" });
    const off = plan(["--private-ip", "10.0.0.5", "--turn", "off"], root);
    expect(off.code, off.stderr).toBe(0);
    expect(off.commands).toContain("systemctl disable --now sora-sfu-coturn.service");
    expect(off.commands).toContain("rm -f /etc/systemd/system/sora-sfu-coturn.service");
    expect(off.commands).toContain("rm -f /etc/sora-sfu/turnserver.conf");
    expect(off.commands).toContain("systemctl daemon-reload");
    expect(JSON.parse(off.files.get("/etc/sora-sfu/node.json")!.content).turn).toBeUndefined();
  });
});

describe("other flag sets", () => {
  it("TURN off, own install dir, local source: no coturn anywhere, unit not tied to it", () => {
    const p = plan(["--private-ip", "10.1.2.3", "--turn=off", "--install-dir", "/srv/sfu/", "--source", "."]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.commands.find((c) => c.includes("apt-get install"))).toMatch(/ nodejs npm$/);
    expect(p.commands).not.toContain("systemctl disable --now coturn.service");
    expect([...p.files.keys()].sort()).toEqual(["/etc/sora-sfu/node.env", "/etc/sora-sfu/node.json", "/etc/systemd/system/sora-sfu-node.service"]);
    const json = JSON.parse(p.files.get("/etc/sora-sfu/node.json")!.content);
    expect(json).toMatchObject({ node_name: "node@10.1.2.3", host: "10.1.2.3", external_signaling_url: "ws://10.1.2.3:5000/signaling" });
    expect(json.turn).toBeUndefined();
    expect(json.edge_url).toBeUndefined();
    const unit = p.files.get("/etc/systemd/system/sora-sfu-node.service")!.content;
    expect(unit).not.toContain("coturn");
    expect(unit).toContain("WorkingDirectory=/srv/sfu\n");
    expect(p.files.get("/etc/sora-sfu/node.env")!.content).not.toContain("NODE_SECRET");
    expect(p.commands).toContain("systemctl enable sora-sfu-node.service");
    expect(p.stdout).toMatch(/^\+ tar -C \S+ .*\| tar -C \/srv\/sfu\.new /m);
  });

  it("no public IP: coturn gets no external-ip; relay policy; a generated TURN secret; port and signaling URL", () => {
    const p = plan(["--private-ip", "192.0.2.10", "--turn-policy", "relay", "--port", "443", "--udp-port", "0", "--signaling-url", "wss://node-01.example.com/signaling"]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.stdout).toContain("# TURN secret: generated (64 hex characters)");
    expect(p.files.get("/etc/sora-sfu/turnserver.conf")!.content).not.toContain("external-ip");
    expect(p.files.get("/etc/sora-sfu/turnserver.conf")!.content.match(/^allowed-peer-ip=.*$/gm)).toEqual(["allowed-peer-ip=192.0.2.10"]);
    const json = JSON.parse(p.files.get("/etc/sora-sfu/node.json")!.content);
    expect(json).toMatchObject({ port: 443, external_signaling_url: "wss://node-01.example.com/signaling" });
    expect(json.udp_port).toBeUndefined(); // --udp-port 0: a socket per connection
    expect(json.announced_address).toBeUndefined(); // public = private
    expect(json.turn).toMatchObject({ external_ip: "192.0.2.10", ice_transport_policy: "relay", shared_secret: REDACTED });
    expect(p.stdout).toContain("the node's ICE ports (udp, the kernel's ephemeral range) only from coturn on 192.0.2.10");
  });

  it("a git ref: clones it (git installed when missing) instead of copying a checkout", () => {
    const p = plan(["--private-ip", "10.0.0.5", "--turn", "off", "--ref", "v1.2.0", "--repo", "https://example.com/sfu.git"]);
    expect(p.code, p.stderr).toBe(0);
    expect(p.commands.find((c) => c.includes("apt-get install"))).toMatch(/ nodejs npm git ca-certificates$/);
    expect(p.commands).toContain("git -c safe.directory=\\* clone --quiet --no-checkout https://example.com/sfu.git /opt/sora-sfu.new");
    expect(p.commands).toContain("git -c safe.directory=\\* -C /opt/sora-sfu.new checkout --quiet --detach v1.2.0");
    expect(p.stdout).not.toContain("+ tar ");
  });

  it("a Node older than 20.19 at /usr/bin/node is replaced from Debian's packages", () => {
    const root = emptyRoot();
    mkdirSync(join(root, "usr/bin"), { recursive: true });
    writeFileSync(join(root, "usr/bin/node"), "#!/bin/sh\necho v18.19.0\n");
    chmodSync(join(root, "usr/bin/node"), 0o755);
    const p = plan(["--private-ip", "10.0.0.5", "--turn", "off"], root);
    expect(p.commands.find((c) => c.includes("apt-get install"))).toMatch(/ nodejs npm$/);
    expect(p.stdout).toContain("# then: /usr/bin/node --version must be >= 20.19");
  });
});

describe("several nodes on one VM (--nodes N: one process per core)", () => {
  const three = [...full, "--nodes", "3"];
  const p = plan(three);

  it("writes one config per instance, each its own cluster node with its own ports, that the loader accepts", async () => {
    expect(p.code, p.stderr).toBe(0);
    expect(p.files.has("/etc/sora-sfu/node.json")).toBe(false);
    for (const n of [1, 2, 3]) {
      const file = p.files.get(`/etc/sora-sfu/node-${n}.json`)!;
      expect(file).toMatchObject({ mode: "0640", owner: "root:sora-sfu" });
      const json = JSON.parse(file.content);
      expect(json).toMatchObject({
        node_name: `node-01@10.0.0.5-${n}`,
        port: 4999 + n,
        udp_port: 4999 + n,
        external_signaling_url: `ws://203.0.113.7:${4999 + n}/signaling`,
        edge_url: "wss://edge.example.com/node",
        turn: { spawn: false, listen_port: 3478 },
      });
      const path = join(scratch, `node-${n}.json`);
      writeFileSync(path, file.content.replace(REDACTED, TURN_SECRET));
      expect(await loadConfigFile(path)).toMatchObject({ port: 4999 + n, udpPort: 4999 + n, nodeName: `node-01@10.0.0.5-${n}` });
    }
  });

  it("installs the template unit, reading node-%i.json, and enables and starts every instance", () => {
    const unit = p.files.get("/etc/systemd/system/sora-sfu-node@.service")!.content;
    expect(unit).toContain("--config /etc/sora-sfu/node-%i.json");
    expect(unit).toContain("Requires=sora-sfu-coturn.service");
    expect(p.files.has("/etc/systemd/system/sora-sfu-node.service")).toBe(false);
    const instances = "sora-sfu-node@1.service sora-sfu-node@2.service sora-sfu-node@3.service";
    expect(p.commands).toContain(`systemctl enable sora-sfu-coturn.service ${instances}`);
    expect(p.commands).toContain(`systemctl restart ${instances}`);
    expect(p.stdout).toContain("#   tcp 5000-5002 from your TLS proxy");
    expect(p.stdout).toContain("#   udp 5000-5002 from clients");
  });

  it("a signaling URL with {port} or {n} names each instance's URL", () => {
    const q = plan([...three, "--signaling-url", "wss://n{n}.example.com:{port}/signaling"]);
    expect(q.code, q.stderr).toBe(0);
    expect(JSON.parse(q.files.get("/etc/sora-sfu/node-2.json")!.content).external_signaling_url).toBe("wss://n2.example.com:5001/signaling");
  });

  it("one node → three → two: the other shape's units and configs, and instances past N, are removed", () => {
    const single = rootAfter(plan(full), { node: "v20.19.2", npm: "10.8.2", turnserver: "4.6.1" });
    const up = plan(three, single);
    expect(up.code, up.stderr).toBe(0);
    expect(up.commands).toContain("systemctl disable --now sora-sfu-node.service");
    expect(up.commands.filter((c) => c.includes("disable --now sora-sfu-node"))).toHaveLength(1);
    expect(up.commands).toContain("rm -f /etc/sora-sfu/node.json");
    expect(up.commands).toContain("rm -f /etc/systemd/system/sora-sfu-node.service");
    expect(up.commands).toContain("systemctl daemon-reload");

    const multi = rootAfter(p, { node: "v20.19.2", npm: "10.8.2", turnserver: "4.6.1" });
    const again = plan(three, multi);
    expect([...again.files.keys()].filter((f) => f !== "/etc/sora-sfu/node.env")).toEqual([]);
    expect(again.commands.filter((c) => c.startsWith("rm -f") || c.includes("disable"))).toEqual([]);

    const down = plan([...full, "--nodes", "2"], multi);
    expect(down.commands).toContain("systemctl disable --now sora-sfu-node@3.service");
    expect(down.commands).toContain("rm -f /etc/sora-sfu/node-3.json");
    expect(down.commands).not.toContain("rm -f /etc/sora-sfu/node-2.json");

    const back = plan(full, multi);
    expect(back.commands).toContain("systemctl disable --now sora-sfu-node@1.service sora-sfu-node@2.service sora-sfu-node@3.service");
    expect(back.commands).toContain("rm -f /etc/systemd/system/sora-sfu-node@.service");
    expect(back.files.has("/etc/sora-sfu/node.json")).toBe(true);
  });
});

describe("bad flags: a clear error, exit code 2, nothing done", () => {
  const cases: [string[], RegExp][] = [
    [["--bogus"], /unknown option: --bogus/],
    [["--private-ip", "10.0.0.5", "--edge-url"], /--edge-url needs a value/],
    [["--private-ip", "10.0.0.5", "--edge-url", "--turn", "off"], /--edge-url needs a value/],
    [["--private-ip", "10.0.0.5", "--edge-url", "https://edge.example.com/node"], /--edge-url must be a ws:\/\/ or wss:\/\/ URL/],
    [["--private-ip", "10.0.0.5", "--turn", "maybe"], /--turn must be on or off, got 'maybe'/],
    [["--private-ip", "300.0.0.5"], /--private-ip must be an IPv4 address/],
    [["--private-ip", "10.0.0.5", "--public-ip", "example.com"], /--public-ip must be an IPv4 address/],
    [["--private-ip", "10.0.0.5", "--port", "70000"], /--port must be 1-65535/],
    [["--private-ip", "10.0.0.5", "--udp-port", "70000"], /--udp-port must be 0-65535/],
    [["--private-ip", "10.0.0.5", "--turn-secret", "short"], /--turn-secret must be 16-512 characters/],
    [["--private-ip", "10.0.0.5", "--turn", "off", "--turn-secret", TURN_SECRET], /--turn-secret needs --turn on/],
    [["--private-ip", "10.0.0.5", "--node-secret", "with space 0123456789"], /--node-secret must be/],
    [["--private-ip", "10.0.0.5", "--install-dir", "opt/sfu"], /--install-dir must be an absolute path/],
    [["--private-ip", "10.0.0.5", "--install-dir", "/etc"], /--install-dir \/etc: choose a directory of its own/],
    [["--private-ip", "10.0.0.5", "--install-dir", "/opt/../etc/x"], /--install-dir must be a plain path/],
    [["--private-ip", "10.0.0.5", "--source", ".", "--ref", "main"], /--source and --ref exclude each other/],
    [["--private-ip", "10.0.0.5", "--repo", "https://example.com/x.git"], /--repo needs --ref/],
    [["--private-ip", "10.0.0.5", "--source", "/nonexistent-dir"], /--source \/nonexistent-dir: no such directory/],
    [["--private-ip", "10.0.0.5", "--dry-run=yes"], /--dry-run takes no value/],
    [["--private-ip", "10.0.0.5", "--auth-webhook-url", "ftp://x"], /--auth-webhook-url must be an http:\/\/ or https:\/\/ URL/],
    [["--private-ip", "10.0.0.5", "--nodes", "0"], /--nodes must be 1-256 or auto, got '0'/],
    [["--private-ip", "10.0.0.5", "--nodes", "two"], /--nodes must be 1-256 or auto, got 'two'/],
    [["--private-ip", "10.0.0.5", "--nodes", "3", "--port", "65534"], /runs past port 65535/],
    [["--private-ip", "10.0.0.5", "--nodes", "2", "--signaling-url", "wss://node.example.com/signaling"], /must hold \{port\} or \{n\} with --nodes > 1/],
  ];
  it.each(cases)("%j", (args, message) => {
    const p = plan(args);
    expect(p.code).toBe(2);
    expect(p.stderr).toMatch(message);
    expect(p.stdout).toBe("");
  });

  it("the fake root of these tests is refused outside --dry-run", () => {
    const r = spawnSync("bash", [SCRIPT, "--private-ip", "10.0.0.5"], {
      encoding: "utf8",
      env: { ...process.env, SORA_SFU_INSTALL_ROOT: emptyRoot() },
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/SORA_SFU_INSTALL_ROOT is only for --dry-run/);
    expect(r.stdout).toBe("");
  });
});

it("passes shellcheck (Debian package shellcheck; .ci/run installs it)", () => {
  const r = spawnSync("shellcheck", ["--severity=style", SCRIPT], { encoding: "utf8" });
  expect(r.error, "shellcheck is not installed: apt-get install shellcheck").toBeUndefined();
  expect(r.stdout + r.stderr).toBe("");
  expect(r.status).toBe(0);
});

it("everything the node imports at run time is a production dependency (npm ci --omit=dev)", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8")) as { dependencies: Record<string, string> };
  const imported = new Set<string>(["tsx"]); // the unit runs `node --import tsx`
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts")) {
        for (const m of readFileSync(path, "utf8").matchAll(/^\s*(?:import|export)\b[^"';]*?from\s+"([^"]+)"|^\s*import\s+"([^"]+)"/gm)) {
          const spec = (m[1] ?? m[2])!;
          if (spec.startsWith(".") || spec.startsWith("node:")) continue;
          imported.add(spec.startsWith("@") ? spec.split("/").slice(0, 2).join("/") : spec.split("/")[0]!);
        }
      }
    }
  };
  walk("media-node/src");
  walk("shared");
  expect(imported.has("werift")).toBe(true); // the scan sees the imports at all
  expect([...imported].filter((name) => !(name in pkg.dependencies))).toEqual([]);
});
