/**
 * Draws the Teams app icons (a portcullis) into appPackage/: color.png 192×192 (white gate on the
 * accent colour, the symbol inside Teams' 120×120 safe area) and outline.png 32×32 (white on
 * transparent, no other colour, no partial alpha). `node scripts/draw-icons.ts` rewrites both.
 * The PNG encoder is the few lines below (node:zlib does the deflate and the CRC); the tests decode
 * the result with pngjs, so a mistake here cannot hide behind the same code reading it back.
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { crc32, deflateSync } from "node:zlib";

type Rgba = readonly [number, number, number, number];

export const ACCENT: Rgba = [0x1f, 0x3a, 0x5f, 0xff];
const WHITE: Rgba = [0xff, 0xff, 0xff, 0xff];
const CLEAR: Rgba = [0, 0, 0, 0];

/** The gate in a unit square: a top beam, four bars ending in spikes, two cross bars. */
function inGate(x: number, y: number): boolean {
  if (x < 0 || x >= 1 || y < 0 || y >= 1) return false;
  if (y < 0.14) return true;
  const crossBar = (y >= 0.36 && y < 0.47) || (y >= 0.6 && y < 0.71);
  if (crossBar && x >= 0.04 && x < 0.96) return true;
  for (const center of [0.125, 0.375, 0.625, 0.875]) {
    const half = 0.05;
    if (y < 0.8) {
      if (Math.abs(x - center) < half) return true;
    } else {
      // The spike narrows linearly from the bar's width to a point at the bottom edge.
      const left = (1 - y) / 0.2;
      if (Math.abs(x - center) < half * left) return true;
    }
  }
  return false;
}

export interface Image {
  readonly width: number;
  readonly height: number;
  readonly rgba: Uint8Array;
}

function draw(
  size: number,
  box: { readonly x: number; readonly y: number; readonly size: number },
  background: Rgba,
  samples: number,
): Image {
  const rgba = new Uint8Array(size * size * 4);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let hits = 0;
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          const x = (px + (sx + 0.5) / samples - box.x) / box.size;
          const y = (py + (sy + 0.5) / samples - box.y) / box.size;
          if (inGate(x, y)) hits++;
        }
      }
      const coverage = hits / (samples * samples);
      const offset = (py * size + px) * 4;
      for (let channel = 0; channel < 4; channel++) {
        const under = background[channel] ?? 0;
        const over = WHITE[channel] ?? 0;
        rgba[offset + channel] = Math.round(under + (over - under) * coverage);
      }
    }
  }
  return { width: size, height: size, rgba };
}

/** 192×192, opaque, anti-aliased white on the accent colour; the gate fills the central 120×120. */
export function colorIcon(): Image {
  return draw(192, { x: 36, y: 36, size: 120 }, ACCENT, 4);
}

/** 32×32, one sample per pixel so every pixel is either opaque white or fully transparent. */
export function outlineIcon(): Image {
  return draw(32, { x: 2, y: 2, size: 28 }, CLEAR, 1);
}

function chunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, "latin1");
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/** 8-bit RGBA, no interlace, filter type 0 on every row. */
export function encodePng(image: Image): Buffer {
  const { width, height, rgba } = image;
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.writeUInt8(8, 8); // bit depth
  header.writeUInt8(6, 9); // colour type: truecolour with alpha
  const rows = Buffer.alloc(height * (width * 4 + 1));
  for (let y = 0; y < height; y++) {
    const start = y * (width * 4 + 1);
    rows[start] = 0;
    rows.set(rgba.subarray(y * width * 4, (y + 1) * width * 4), start + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(rows, { level: 9 })),
    chunk("IEND", new Uint8Array()),
  ]);
}

if (import.meta.main) {
  const dir = resolve(fileURLToPath(new URL(".", import.meta.url)), "../appPackage");
  writeFileSync(resolve(dir, "color.png"), encodePng(colorIcon()));
  writeFileSync(resolve(dir, "outline.png"), encodePng(outlineIcon()));
  console.log(`wrote ${dir}/color.png and ${dir}/outline.png`);
}
