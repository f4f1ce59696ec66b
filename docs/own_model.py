import timm, torch, adavipro
from sklearn.datasets import load_digits

net = timm.create_model("resnet18", pretrained=False)   # your classifier: (B,3,S,S) -> (B,K) logits, any weights
model = adavipro.prompt(net, classes=10, image_size=32, method="adavipro")   # a frozen copy + a trainable prompt
model.print_trainable_parameters()

digits = load_digits()                                   # 8x8 grey digits in 0..16 -> uint8 (N,3,8,8) in 0..255
x = torch.tensor(digits.images * 255 / 16, dtype=torch.uint8)[:, None].expand(-1, 3, -1, -1)
y = torch.tensor(digits.target)
opt = torch.optim.SGD(model.param_groups(lr_prompt=40., lr_mask=1.), momentum=0.9)
for epoch in range(2):
    for i in range(0, 256, 64):
        loss = model.training_step(x[i:i + 64], y[i:i + 64])   # cross-entropy + the method's extra loss
        opt.zero_grad(); loss.backward(); opt.step()
    model.on_epoch_end()                                 # AdaViPro: the mask's temperature decays
    print(f"epoch {epoch}: loss {loss.item():.3f}")
with torch.no_grad(): acc = (model.eval()(x[256:512]).argmax(1) == y[256:512]).float().mean()
print(f"accuracy {acc:.3f} on 256 held-out digits")
