import { useEffect, useRef } from "preact/hooks";

// A small time chart on a canvas: the last samples as a line, with the latest value as text.
// No chart library: one path per redraw.

export function Sparkline({ values, color, unit, width = 140, height = 36 }: { values: number[]; color: string; unit: string; width?: number; height?: number }) {
  const ref = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext("2d");
    if (!canvas || !ctx) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.fillStyle = "#f4f6f8";
    ctx.fillRect(0, 0, width, height);
    if (values.length < 2) return;
    const max = Math.max(1, ...values) * 1.15;
    const step = width / 59;
    const x0 = width - (values.length - 1) * step;
    ctx.beginPath();
    values.forEach((v, i) => {
      const x = x0 + i * step;
      const y = height - (v / max) * (height - 4) - 2;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
  }, [values, color, width, height]);
  const last = values.at(-1);
  return (
    <div class="spark">
      <canvas ref={ref} style={{ width: `${width}px`, height: `${height}px` }} />
      <span class="spark-value">{last === undefined ? "–" : `${Math.round(last)} ${unit}`}</span>
    </div>
  );
}
