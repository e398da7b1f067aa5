// Command genorders writes a deterministic enishi orders CSV for benchmarks:
// -lines order lines from -customers customers (e-mail, phone, name), a few
// lines per order, a long-tailed number of orders per customer.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"time"
)

func main() {
	lines := flag.Int("lines", 1_000_000, "order lines to write")
	customers := flag.Int("customers", 200_000, "distinct customers")
	seed := flag.Uint64("seed", 1, "random seed")
	maxLines := flag.Int("max-lines", 5, "most lines per order (1 gives one order per line)")
	out := flag.String("o", "-", "output file (- for stdout)")
	flag.Parse()

	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer f.Close()
		w = bufio.NewWriterSize(f, 1<<20)
	}
	defer w.Flush()
	r := rand.New(rand.NewPCG(*seed, 42))
	last := []string{"佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村", "小林", "加藤"}
	first := []string{"翔太", "陽菜", "蓮", "結衣", "大翔", "美咲", "健太", "さくら", "悠真", "花子"}
	cats := []string{"スキンケア", "サプリメント", "食品", "ギフト"}
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Fprintln(w, "order_id,customer_id,email,phone,name,ordered_at,status,channel,currency,total,sku,product_name,category,quantity,unit_price")
	order := 0
	for n := 0; n < *lines; {
		order++
		// Every customer buys once first; further orders are skewed
		// towards low ids: a few buy often.
		c := order - 1
		if c >= *customers {
			c = int(float64(*customers) * r.Float64() * r.Float64())
		}
		at := start.Add(time.Duration(r.Int64N(int64(3 * 365 * 24 * time.Hour)))).Format("2006-01-02 15:04:05")
		k := 1 + r.IntN(*maxLines)
		if n+k > *lines {
			k = *lines - n
		}
		type line struct {
			sku, cat string
			q, p     int
		}
		ls := make([]line, k)
		total := 0
		for i := range ls {
			p := 500 + 100*r.IntN(60)
			ls[i] = line{fmt.Sprintf("SKU-%04d", r.IntN(2000)), cats[r.IntN(len(cats))], 1 + r.IntN(3), p}
			total += ls[i].q * ls[i].p
		}
		status := "paid"
		if r.IntN(50) == 0 {
			status = "cancelled"
		}
		name := last[c%len(last)] + " " + first[(c/len(last))%len(first)]
		for _, l := range ls {
			fmt.Fprintf(w, "O%d,C%d,user%d@example.com,090%08d,%s,%s,%s,own_ec,JPY,%d,%s,商品 %s,%s,%d,%d\n",
				order, c, c, c, name, at, status, total, l.sku, l.sku, l.cat, l.q, l.p)
		}
		n += k
	}
}
