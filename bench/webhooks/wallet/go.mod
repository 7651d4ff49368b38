module credreg.example/bench/webhooks/wallet

go 1.22
