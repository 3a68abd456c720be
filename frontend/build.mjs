// Build the portal's static assets: copy the map library from node_modules and the portal's own
// script and styles into publishers/portal/static/build/ under content-hashed names, write .gz and .br
// beside each, and a manifest.json mapping logical names to hashed ones. No bundler needed: the
// page loads three scripts and three stylesheets, all served by the app (never from a CDN).
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "publishers", "portal", "static", "build");
const leaflet = join(root, "node_modules", "leaflet", "dist");
const cluster = join(root, "node_modules", "leaflet.markercluster", "dist");

const assets = {
  "leaflet.js": join(leaflet, "leaflet.js"),
  "leaflet.css": join(leaflet, "leaflet.css"),
  "markercluster.js": join(cluster, "leaflet.markercluster.js"),
  "markercluster.css": join(cluster, "MarkerCluster.css"),
  "portal.js": join(root, "frontend", "portal.js"),
  "portal.css": join(root, "frontend", "portal.css"),
};

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "images"), { recursive: true });

const manifest = {};
for (const [logical, source] of Object.entries(assets)) {
  const body = readFileSync(source);
  const hash = createHash("sha256").update(body).digest("hex").slice(0, 12);
  const dot = logical.lastIndexOf(".");
  const name = `${logical.slice(0, dot)}.${hash}${logical.slice(dot)}`;
  writeFileSync(join(out, name), body);
  writeFileSync(join(out, `${name}.gz`), gzipSync(body, { level: 9 }));
  writeFileSync(
    join(out, `${name}.br`),
    brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }),
  );
  manifest[logical] = name;
}
// leaflet.css refers to images/ relative to itself (layer control, default marker icons).
for (const image of ["layers.png", "layers-2x.png", "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png"]) {
  copyFileSync(join(leaflet, "images", image), join(out, "images", image));
  manifest[`images/${image}`] = `images/${image}`;
}
writeFileSync(join(out, "manifest.json"), JSON.stringify(manifest, null, 1) + "\n");
console.log(`portal assets built in ${out}: ${Object.keys(manifest).length} files`);
