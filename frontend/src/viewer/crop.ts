/** Region thumbnails stitched from the slide's Deep Zoom tiles (no extra server endpoint needed). */
import type { Rect } from "./overlay";

export interface DziInfo {
  width: number;
  height: number;
  tileSize: number;
  overlap: number;
  format: string;
}

export function parseDzi(xml: string): DziInfo {
  const doc = new DOMParser().parseFromString(xml, "application/xml");
  const image = doc.getElementsByTagName("Image")[0];
  const size = doc.getElementsByTagName("Size")[0];
  if (!image || !size) throw new Error("Not a Deep Zoom descriptor");
  return {
    width: Number(size.getAttribute("Width")),
    height: Number(size.getAttribute("Height")),
    tileSize: Number(image.getAttribute("TileSize")),
    overlap: Number(image.getAttribute("Overlap") ?? 0),
    format: image.getAttribute("Format") ?? "jpeg",
  };
}

export function maxLevel(info: Pick<DziInfo, "width" | "height">): number {
  return Math.ceil(Math.log2(Math.max(info.width, info.height)));
}

export interface TileRef {
  level: number;
  col: number;
  row: number;
  /** Where the tile image's top-left lands, in level pixels. */
  x: number;
  y: number;
}

/** The DZI level and tiles covering `bbox` (level-0 px) so that its longer side is ≥ `targetPx`. */
export function tilesForRegion(info: DziInfo, bbox: Rect, targetPx: number): { level: number; scale: number; tiles: TileRef[] } {
  const top = maxLevel(info);
  const side = Math.max(bbox.x1 - bbox.x0, bbox.y1 - bbox.y0, 1);
  const down = Math.max(0, Math.floor(Math.log2(side / targetPx)));
  const level = Math.max(0, top - down);
  const scale = Math.pow(2, level - top);
  const lw = Math.ceil(info.width * scale), lh = Math.ceil(info.height * scale);
  const ts = info.tileSize;
  const c0 = Math.max(0, Math.floor((bbox.x0 * scale) / ts)), c1 = Math.min(Math.ceil(lw / ts) - 1, Math.floor((bbox.x1 * scale) / ts));
  const r0 = Math.max(0, Math.floor((bbox.y0 * scale) / ts)), r1 = Math.min(Math.ceil(lh / ts) - 1, Math.floor((bbox.y1 * scale) / ts));
  const tiles: TileRef[] = [];
  for (let row = r0; row <= r1; row++)
    for (let col = c0; col <= c1; col++)
      tiles.push({ level, col, row, x: col * ts - (col > 0 ? info.overlap : 0), y: row * ts - (row > 0 ? info.overlap : 0) });
  return { level, scale, tiles };
}

const dziCache = new Map<string, Promise<DziInfo>>();

export function loadDzi(url: string): Promise<DziInfo> {
  let p = dziCache.get(url);
  if (!p) {
    p = fetch(url, { credentials: "same-origin" }).then(async (r) => {
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      return parseDzi(await r.text());
    });
    p.catch(() => dziCache.delete(url));
    dziCache.set(url, p);
  }
  return p;
}

function loadImage(src: string): Promise<HTMLImageElement> {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error(`tile ${src}`));
    img.src = src;
  });
}

/** A JPEG data URL of `bbox` (with a margin), longer side `targetPx`. */
export async function cropFromDzi(dziUrl: string, tilesBase: string, bbox: Rect, targetPx = 192, margin = 0.15): Promise<string> {
  const info = await loadDzi(dziUrl);
  const w = bbox.x1 - bbox.x0, h = bbox.y1 - bbox.y0;
  const region = { x0: Math.max(0, bbox.x0 - w * margin), y0: Math.max(0, bbox.y0 - h * margin), x1: Math.min(info.width, bbox.x1 + w * margin), y1: Math.min(info.height, bbox.y1 + h * margin) };
  const { scale, tiles } = tilesForRegion(info, region, targetPx);
  const rw = (region.x1 - region.x0) * scale, rh = (region.y1 - region.y0) * scale;
  const out = Math.min(1, targetPx / Math.max(rw, rh)) ;
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(rw * out));
  canvas.height = Math.max(1, Math.round(rh * out));
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2d context");
  const images = await Promise.all(tiles.map((tile) => loadImage(`${tilesBase}/${tile.level}/${tile.col}_${tile.row}.${info.format}`).then((img) => ({ tile, img }))));
  for (const { tile, img } of images) {
    ctx.drawImage(img, (tile.x - region.x0 * scale) * out, (tile.y - region.y0 * scale) * out, img.width * out, img.height * out);
  }
  return canvas.toDataURL("image/jpeg", 0.85);
}
